/**
 * The fix process is killed (SIGKILL: no handler runs) between two nodes' writes. Its journal keeps
 * every write it finished; the lock it held refuses the next run until it expires or is released
 * by name; fix again converges, and no secret is written twice.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { planRollback, readJournal } from '../../helpers/journal.ts';
import { leakedSecrets, runbook, runScript, startScript, workspace } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';

describe('fix killed between two nodes, then run again', () => {
  const startedTwin = useTwin('incident-key-mismatch');

  test(
    'the journal keeps what was done, the lock names the dead run, and the re-run finishes ' +
      'without writing anything twice',
    async () => {
      const twin = startedTwin();
      const secretNames = twin.nodes.map((n) => `mpc-node-${n.index}-mpc_account_sk`);
      const versionsBefore = Object.fromEntries(secretNames.map((s) => [s, twin.aws.secrets.versions(s).length]));

      const killed = workspace();
      // 300 ms per AWS call keeps ≥ 600 ms between one node's write and the next, so the kill lands between them.
      twin.aws.faults.latencyMs = 300;
      const run = startScript('runbook.ts', ['fix'], { ...twin.env, ...killed.env });
      // Kill the whole process group the moment the first node's secret is written.
      const journalPath = await vi.waitFor(
        () => {
          const j = killed.journals()[0];
          expect(j && existsSync(j) && readFileSync(j, 'utf8')).toContain('"phase":"done"');
          return j!;
        },
        { timeout: 300_000, interval: 5 },
      );
      run.kill();
      await run.result;
      twin.aws.faults.latencyMs = 0;
      const deadRun = basename(journalPath, '.jsonl');
      const j1 = readJournal(journalPath);
      const done1 = j1
        .filter((e) => e.phase === 'done' && e.action.kind === 'put-secret')
        .map((e) => e.action.kind === 'put-secret' && e.action.secretName);
      expect(done1.length).toBeGreaterThanOrEqual(1);
      expect(done1.length).toBeLessThan(3); // killed between nodes, not after the step
      expect(planRollback(j1).actions.length).toBe(done1.length); // what it did can be undone exactly
      // A write the kill cut short has its intent and no outcome: rollback reports it, never guesses.
      const unknown1 = planRollback(j1).unknown.map((e) => e.action.kind === 'put-secret' && e.action.secretName);
      expect(unknown1.length).toBeLessThanOrEqual(1);

      const refused = workspace();
      const r2 = await runbook(twin, 'fix', refused);
      expect(r2.code).toBe(1);
      expect(r2.output).toContain(`another fix run holds the lock: run ${deadRun}`);
      expect(r2.output).toContain(`npm run unlock -- ${deadRun}`);
      expect(refused.journals()).toEqual([]);

      expect((await runScript('unlock.ts', ['some-other-run'], twin.env)).code).toBe(1); // only the named run's lock
      const unlocked = await runScript('unlock.ts', [deadRun], twin.env);
      expect(unlocked.output).toContain(`released the fix lock of run ${deadRun}`);

      const again = workspace();
      const r3 = await runbook(twin, 'fix', again);
      expect(r3.code, r3.output.slice(-3000)).toBe(0);
      const done3 = again
        .journals()
        .flatMap(readJournal)
        .filter((e) => e.phase === 'done' && e.action.kind === 'put-secret')
        .map((e) => e.action.kind === 'put-secret' && e.action.secretName);
      // Every secret was written by exactly one of the runs (done, or cut short with its intent journaled).
      expect([...done1, ...unknown1, ...done3].sort()).toEqual([...secretNames].sort());
      for (const s of secretNames)
        expect(twin.aws.secrets.versions(s).length, `${s} versions`).toBe(versionsBefore[s]! + 1);
      expect(
        leakedSecrets(twin, run.output() + r2.output + r3.output + killed.artifacts() + again.artifacts()),
      ).toEqual([]);
    },
  );
});
