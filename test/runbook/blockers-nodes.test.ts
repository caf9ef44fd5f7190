/**
 * Still Initializing because of one node: its container is stopped (`one-node-down`: the runbook starts it
 * through SSM, journaled, and the contract reaches Running; rollback stops it again), or it has no
 * attestation on chain (`node-not-attested`: named with the evidence, a refusal with what to do, nothing
 * written). The nodes run the runbook's scripts under dash, the strictest `sh` the SSM agent may use.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import type { PlannedAction } from '../../helpers/harness/fix-up.ts';
import { journalTarget, readJournal } from '../../helpers/journal.ts';
import type { Twin } from '../../twin/start.ts';
import { changes, fixWritingNothing, footprint } from './footprint.ts';
import { leakedSecrets, runbook, runScript, workspace } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';
import { stateName } from '../twin/network-support.ts';

const containerOf = (twin: Twin, i: number) =>
  twin.fleet.container(twin.nodes[i]!.instanceId, 'mpc-node')?.State.Status as string | undefined;

describe('runbook on one-node-down (the nodes run its scripts under dash)', () => {
  const started = useTwin('one-node-down');
  const outputs: string[] = [];
  const planned = workspace();
  const ws = workspace();

  test('gate names the node, its container state and the votes; plan announces docker start', async () => {
    const twin = started();
    for (const n of twin.nodes) twin.fleet.setShell(n.instanceId, 'dash');
    const down = twin.nodes[2]!;
    const gate = await runbook(twin, 'gate', workspace());
    outputs.push(gate.output);
    expect(gate.code).toBe(1);
    expect(gate.output).toMatch(/03-nodes-healthy +\d+ passed, 2 failed/);
    expect(gate.output).toContain(`mpc-node-2.localnet: container=exited`);
    expect(gate.output).toContain(
      `mpc-node-2.localnet: /public_data on ${down.privateIp}:8080 did not answer from the NEAR base ` +
        '(connection refused (curl exit 7: nothing listens on :8080)); ' +
        'on its instance the mpc-node container is exited',
    );
    expect(gate.output).toContain(`fix-up (step 03): docker start mpc-node on ${down.instanceId} (it is exited)`);
    expect(gate.output).toContain("mpc-node-2.localnet's mpc-node container is exited");
    expect(gate.output).toContain('votes 0 of 3 (no attempt running)');
    expect(gate.output).toMatch(/→ 2 \S+:3000 refused/); // the others cannot reach it, tested on themselves
    expect(gate.output).toContain('Known failure: one-node-down');

    const plan = await runbook(twin, 'plan', planned);
    outputs.push(plan.output);
    expect(plan.code).toBe(1);
    expect(plan.output).toContain(
      `[plan] 03 every mpc-node container is up: SSM on ${down.instanceId}: docker start mpc-node (it is exited`,
    );
    expect(plan.output).not.toContain('rewrite');
    expect(containerOf(twin, 2)).toBe('exited');
  });

  test('fix starts the container (journaled, nothing rewritten) and the contract reaches Running', async () => {
    const twin = started();
    const before = footprint(twin);
    const fix = await runbook(twin, 'fix', ws);
    outputs.push(fix.output, ws.artifacts());
    expect(fix.code, fix.output.slice(-3000)).toBe(0);
    expect(fix.output).toMatch(
      /\[fix\] 03 every mpc-node container is up: started mpc-node on i-\w+ \(it was exited\)/,
    );
    const changed = changes(before, footprint(twin));
    expect(changed).toMatchObject({
      secretVersions: 0,
      nodeFileWrites: 0,
      containerStarts: 1,
      started: ['mpc-node-2'],
    });
    expect(stateName(twin)).toBe('Running');
    // The writes fix journaled are exactly what plan announced.
    const announced = Object.entries(
      JSON.parse(readFileSync(planned.plans()[0]!, 'utf8')) as Record<string, PlannedAction[]>,
    ).flatMap(([step, actions]) =>
      actions.filter((a) => a.kind !== 'wait').map((a) => `${step} ${a.kind} ${a.target}`),
    );
    const entries = readJournal(ws.journals()[0]!);
    const journaled = entries
      .filter((e) => e.phase === 'intent')
      .map((e) => `${e.step} ${e.action.kind} ${journalTarget(e.action)}`);
    expect(journaled).toEqual([`03-nodes-healthy start-container ${twin.nodes[2]!.instanceId}`]);
    expect(journaled).toEqual(announced);
    expect(entries.find((e) => e.phase === 'done')?.result).toMatchObject({ started: true, was: 'exited' });
  });

  test('rollback stops the container again, as the run found it', async () => {
    const twin = started();
    const [journal] = ws.journals();
    const plan = await runScript('rollback.ts', [journal!, '--plan'], { ...twin.env, ...ws.env });
    expect(plan.output).toContain('would stop mpc-node on mpc-node-2');
    expect(containerOf(twin, 2)).toBe('running');
    const r = await runScript('rollback.ts', [journal!], { ...twin.env, ...ws.env });
    outputs.push(plan.output, r.output);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`stopped mpc-node on mpc-node-2 (${twin.nodes[2]!.instanceId}) again`);
    expect(containerOf(twin, 2)).toBe('exited');
    expect(leakedSecrets(twin, outputs.join('\n'))).toEqual([]);
  });
});

describe('runbook on node-not-attested', () => {
  const started = useTwin('node-not-attested');

  test('gate names the node and its attestation evidence; fix refuses with what to do and writes nothing', async () => {
    const twin = started();
    const signPk = twin.scenario.nodeList[1]!.p2p.chain!.publicKey;
    const outputs: string[] = [];
    const gate = await runbook(twin, 'gate', workspace());
    outputs.push(gate.output);
    expect(gate.code).toBe(1);
    for (const step of ['01-keys-match', '02-secrets-restored', '03-nodes-healthy'])
      expect(gate.output).toMatch(new RegExp(`${step} +\\d+ passed, 0 failed`));
    expect(gate.output).toContain(
      `mpc-node-1.localnet has no attestation on chain for its P2P key ${signPk.slice(0, 12)}…${signPk.slice(-4)} ` +
        '(get_attestation → null; not in get_tee_accounts); its submit_participant_info fails',
    );
    expect(gate.output).toMatch(/Smart contract panicked: Attached 0, Required \d+/);
    expect(gate.output).toMatch(/the contract wants a storage deposit of [\d.]+ NEAR for a new attestation/);
    expect(gate.output).toContain(`"tls_public_key":"${signPk}"`);
    expect(gate.output).toContain('Not a runbook repair');
    expect(gate.output).not.toContain("mpc-node-0.localnet's"); // the others are not blamed for waiting
    expect(gate.output).toContain('Known failure: node-not-attested');

    const fix = await fixWritingNothing(twin, outputs);
    expect(fix.output).toContain('nothing to wait for (what blocks it does not clear by waiting)');
    expect(fix.output).toContain('mpc-node-1.localnet has no attestation on chain');
    expect(leakedSecrets(twin, outputs.join('\n'))).toEqual([]);
  });
});
