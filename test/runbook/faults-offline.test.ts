/**
 * An instance drops offline in the middle of a fix: the re-materialise command reaches the other
 * nodes but never that one. The run stops red naming it, says nothing ran there, and journals every
 * outcome; once the instance is back, fix again repairs only that node and the Layer 3 is Running.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { readJournal } from '../../helpers/journal.ts';
import { leakedSecrets, runbook, workspace } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';

describe('an instance drops offline mid-fix, then comes back', () => {
  const startedTwin = useTwin('incident-key-mismatch');

  test('the run stops red naming the node; the re-run repairs only that node', async () => {
    const twin = startedTwin();
    const lost = twin.nodes[1]!;
    const nodeFile = (n: typeof lost) => readFileSync(join(n.dataDir, 'secrets.json'), 'utf8');
    const before = twin.nodes.map(nodeFile);
    // SSM's delivery timeout is at least 30 s; the twin runs SSM time 10× faster.
    twin.aws.faults.ssmTimeScale = 0.1;
    twin.aws.faults.ssmDropOffline = { instanceIds: [lost.instanceId], commandPattern: 'secrets\\.json\\.runbook' };
    const first = workspace();
    const r1 = await runbook(twin, 'fix', first, { RUNBOOK_SSM_TIMEOUT_S: '60' });
    expect(r1.code, r1.output.slice(-3000)).toBe(1);
    expect(r1.output).toMatch(
      new RegExp(
        `re-materialising failed on mpc-node-1 \\(${lost.instanceId}\\): TimedOut/DeliveryTimedOut: ` +
          'the command never reached the instance \\(SSM agent not connected\\); nothing ran there\\. ' +
          'Done and restarted: mpc-node-0, mpc-node-2',
      ),
    );
    const j1 = readJournal(first.journals()[0]!);
    const remat = j1.filter((e) => e.action.kind === 'rematerialise-node-secrets' && e.phase !== 'intent');
    expect(remat.map((e) => [e.action.kind === 'rematerialise-node-secrets' && e.action.node, e.phase]).sort()).toEqual(
      [
        ['mpc-node-0', 'done'],
        ['mpc-node-1', 'failed'],
        ['mpc-node-2', 'done'],
      ],
    );
    expect(remat.find((e) => e.phase === 'failed')!.error).toMatch(/DeliveryTimedOut/);
    expect(nodeFile(lost)).toBe(before[1]); // nothing ran there
    expect(nodeFile(twin.nodes[0]!)).not.toBe(before[0]);

    twin.fleet.setPing(lost.instanceId, 'Online');
    twin.aws.faults.ssmTimeScale = 1;
    const second = workspace();
    const r2 = await runbook(twin, 'fix', second);
    expect(r2.code, r2.output.slice(-3000)).toBe(0);
    const j2 = readJournal(second.journals()[0]!);
    expect(j2.filter((e) => e.action.kind === 'put-secret')).toEqual([]);
    expect(
      j2.filter((e) => e.phase === 'done').map((e) => e.action.kind === 'rematerialise-node-secrets' && e.action.node),
    ).toEqual(['mpc-node-1']);
    expect(leakedSecrets(twin, r1.output + r2.output + first.artifacts() + second.artifacts())).toEqual([]);
  });
});
