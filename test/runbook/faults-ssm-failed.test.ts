/**
 * An SSM command that fails: between step 02 and the re-materialise on the instance, someone else
 * writes another key into node 0's secret. The script on the instance sees a value the runbook did
 * not check and refuses (nothing written there); the run stops red naming the node and the reason,
 * the journal records it; the re-run restores the secret again and converges.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { readJournal } from '../../helpers/journal.ts';
import { scenarioKey } from '../../twin/scenario.ts';
import { leakedSecrets, runbook, startScript, workspace } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';

describe('the re-materialise command fails on one instance', () => {
  const startedTwin = useTwin('incident-key-mismatch');

  test('a secret changed behind the runbook is refused on the instance; the re-run converges', async () => {
    const twin = startedTwin();
    const node0 = twin.nodes[0]!;
    const fileBefore = readFileSync(join(node0.dataDir, 'secrets.json'), 'utf8');
    const intruder = scenarioKey('someone else', 'account', 0, 'concurrent-writer').secretKey;
    const first = workspace();
    const run = startScript('runbook.ts', ['fix'], { ...twin.env, ...first.env });
    // The moment the runbook has journaled its intent to re-materialise, another writer changes the secret.
    await vi.waitFor(
      () => {
        const j = first.journals()[0];
        expect(j && readFileSync(j, 'utf8')).toContain('"kind":"rematerialise-node-secrets"');
      },
      { timeout: 300_000, interval: 5 },
    );
    twin.aws.secrets.put(`mpc-node-${node0.index}-mpc_account_sk`, intruder);
    const r1 = await run.result;
    expect(r1.code, r1.output.slice(-3000)).toBe(1);
    expect(r1.output).toMatch(
      new RegExp(
        `re-materialising failed on mpc-node-0 \\(${node0.instanceId}\\): Failed: ERROR: ` +
          'mpc-node-0-mpc_account_sk is not the value the runbook checked; nothing written',
      ),
    );
    const j1 = readJournal(first.journals()[0]!);
    expect(
      j1
        .filter((e) => e.action.kind === 'rematerialise-node-secrets' && e.phase !== 'intent')
        .map((e) => [e.action.kind === 'rematerialise-node-secrets' && e.action.node, e.phase])
        .sort(),
    ).toEqual([
      ['mpc-node-0', 'failed'],
      ['mpc-node-1', 'done'],
      ['mpc-node-2', 'done'],
    ]);
    expect(readFileSync(join(node0.dataDir, 'secrets.json'), 'utf8')).toBe(fileBefore);

    const second = workspace();
    const r2 = await runbook(twin, 'fix', second);
    expect(r2.code, r2.output.slice(-3000)).toBe(0);
    const j2 = readJournal(second.journals()[0]!).filter((e) => e.phase === 'done');
    expect(
      j2.map((e) =>
        e.action.kind === 'put-secret'
          ? e.action.secretName
          : e.action.kind === 'rematerialise-node-secrets'
            ? e.action.node
            : e.action.kind,
      ),
    ).toEqual(['mpc-node-0-mpc_account_sk', 'mpc-node-0']);
    const all = r1.output + r2.output + first.artifacts() + second.artifacts();
    expect(leakedSecrets(twin, all)).toEqual([]);
    expect(all).not.toContain(intruder.slice(8));
  });
});
