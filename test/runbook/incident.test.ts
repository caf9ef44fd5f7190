/**
 * The reported incident, end to end: the gate is red and names every node and the place that
 * disagrees; plan lists the actions and writes nothing; fix heals it; the gate goes green; the
 * journal holds every write; rollback returns the secrets and node files to the incident exactly.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import type { PlannedAction } from '../../helpers/harness/fix-up.ts';
import { journalTarget, planRollback, readJournal } from '../../helpers/journal.ts';
import { fixThenGate, leakedSecrets, runbook, runScript, snapshot, workspace } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';

describe('runbook on incident-key-mismatch', () => {
  const started = useTwin('incident-key-mismatch');
  const ws = workspace();
  const planned = workspace();
  let incident: ReturnType<typeof snapshot>;
  const outputs: string[] = [];
  beforeAll(() => {
    incident = snapshot(started());
  });

  test('gate is red and names every node and the place that disagrees', async () => {
    const twin = started();
    const r = await runbook(twin, 'gate', ws);
    outputs.push(r.output);
    expect(r.code).not.toBe(0);
    for (const n of twin.nodes) {
      expect(r.output).toContain(`${n.accountId}: Secrets Manager mpc-node-${n.index}-mpc_account_sk derives`);
      expect(r.output).toContain(`${n.accountId}: the node signs with`);
    }
    expect(r.output).toContain('Runbook gate: RED');
    expect(ws.journals()).toEqual([]); // read-only
  });

  test('plan prints the exact actions and writes nothing', async () => {
    const twin = started();
    const r = await runbook(twin, 'plan', planned);
    outputs.push(r.output);
    expect(r.code).not.toBe(0);
    for (const n of twin.nodes) {
      expect(r.output).toContain(
        `PutSecretValue mpc-node-${n.index}-mpc_account_sk ← manifest node-${n.index} account key`,
      );
      expect(r.output).toMatch(
        new RegExp(`\\[plan\\] 03 ${n.accountId.replace(/\./g, '\\.')}: SSM on ${n.instanceId}: rewrite`),
      );
    }
    expect(snapshot(twin)).toEqual(incident);
    expect(planned.journals()).toEqual([]);
  });

  test('fix heals it and the gate goes green', async () => {
    const twin = started();
    const { fix, gate } = await fixThenGate(twin, ws);
    outputs.push(fix.output, gate.output);
    expect(gate.output).toContain('Runbook gate: GREEN');
    // Long waits say what they wait for and what they see now, beside the claim they serve.
    expect(fix.output).toMatch(
      /\[progress\] 03 mpc-node-0\.localnet: "mpc-runbook: rematerialise[^"]*": \d of 3 instance/,
    );
    // each node its own
    expect(fix.output).toMatch(/\[fix\] 03 mpc-node-1\.localnet: re-materialised secrets\.json on i-/);
  });

  test('the journal holds every write, before and after it happened', () => {
    const twin = started();
    const [journal] = ws.journals();
    const entries = readJournal(journal!);
    const done = entries.filter((e) => e.phase === 'done');
    expect(entries.filter((e) => e.phase === 'intent')).toHaveLength(done.length);
    expect(
      done
        .filter((e) => e.action.kind === 'put-secret')
        .map((e) => (e.action as { secretName: string }).secretName)
        .sort(),
    ).toEqual(twin.nodes.map((n) => `mpc-node-${n.index}-mpc_account_sk`).sort());
    expect(done.filter((e) => e.action.kind === 'rematerialise-node-secrets')).toHaveLength(twin.nodes.length);
    expect(planRollback(entries).actions).toHaveLength(2 * twin.nodes.length);
  });

  test(
    'the writes fix journaled are exactly the actions plan announced: same secrets, same ' + 'instances, same order',
    () => {
      const [plan] = planned.plans();
      const announced = Object.entries(JSON.parse(readFileSync(plan!, 'utf8')) as Record<string, PlannedAction[]>)
        .sort(([a], [b]) => a.localeCompare(b))
        .flatMap(([step, actions]) =>
          actions.filter((a) => a.kind !== 'wait').map((a) => `${step} ${a.kind} ${a.target}`),
        );
      const journaled = readJournal(ws.journals()[0]!)
        .filter((e) => e.phase === 'intent')
        .map((e) => `${e.step} ${e.action.kind} ${journalTarget(e.action)}`);
      expect(announced.length).toBe(2 * started().nodes.length);
      expect(journaled).toEqual(announced);
    },
  );

  test('rollback returns every secret and node file to exactly the incident state', async () => {
    const twin = started();
    const [journal] = ws.journals();
    const r = await runScript('rollback.ts', [journal!], { ...twin.env, ...ws.env });
    outputs.push(r.output);
    expect(r.code, r.output).toBe(0);
    expect(snapshot(twin)).toEqual(incident);
  });

  test('no secret appears in any output, JUnit report or journal', () => {
    const twin = started();
    expect(leakedSecrets(twin, outputs.join('\n') + ws.artifacts())).toEqual([]);
  });
});
