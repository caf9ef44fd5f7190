/**
 * Still Initializing after the keys are fixed: the P2P port collision of the user's deployment (participant
 * URLs on :8080, the web UI's port). The gate names the collision per node with its evidence; fix writes
 * nothing for it and says what to do. On `incident-as-deployed` fix repairs the keys, then stops red at 04
 * naming the collision, and writes nothing else.
 */
import { describe, expect, test } from 'vitest';
import { readJournal } from '../../helpers/journal.ts';
import { changes, footprint } from './footprint.ts';
import { leakedSecrets, runbook, snapshot, workspace } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';

const COLLISION =
  'the P2P listener of mpc-node-0.localnet, mpc-node-1.localnet and mpc-node-2.localnet cannot bind :8080';
const TCP_BIND = '[Initializing] failed: TCP bind (Caused by: Address already in use (os error 98))';
const PER_NODE =
  "P2P port    8080 (the URL's; no indexer.port_override) — held by the web UI (config.yaml web_ui.port 8080)";

describe('runbook on p2p-port-collision', () => {
  const started = useTwin('p2p-port-collision');
  const outputs: string[] = [];

  test('gate: green up to 03, red at 04 naming the collision on every node with its evidence', async () => {
    const twin = started();
    const ws = workspace();
    const r = await runbook(twin, 'gate', ws);
    outputs.push(r.output, ws.artifacts());
    expect(r.code).toBe(1);
    for (const step of ['01-keys-match', '02-secrets-restored', '03-nodes-healthy'])
      expect(r.output).toMatch(new RegExp(`${step} +\\d+ passed, 0 failed`));
    expect(r.output).toMatch(/04-contract-running +\d+ passed, [12] failed/);
    expect(r.output).toContain(COLLISION);
    expect(r.output).toContain('no indexer.port_override) — because the web UI holds it (config.yaml web_ui.port 8080');
    expect(r.output).toContain(TCP_BIND);
    expect(r.output).toContain('votes 0 of 3 (no attempt running)');
    for (const n of twin.nodes) {
      expect(r.output).toContain(`${n.accountId} — participant ${n.index}, ${n.instanceId}, ${n.participantUrl}`);
      expect(r.output).toMatch(/TCP bind failed ×\d+/);
    }
    expect(r.output.split(PER_NODE)).toHaveLength(4); // one line per node
    // The remedies, with what the nodes themselves found: 3000 is free on them, the CDK's rules drop it.
    expect(r.output).toContain('To do: change the P2P port (not repaired automatically');
    expect(r.output).toContain('add "port_override: 3000" under "indexer:"');
    expect(r.output).toContain('nothing listens on 3000 on any node');
    expect(r.output).toContain('the MPC security group drops 3000 between the instances');
    expect(r.output).toContain('or (b) move the web UI off :8080');
    expect(r.output).not.toContain('AccessKeyNotFound (');
    expect(r.output).toContain('Known failure: p2p-port-collision — docs/failure-modes.md#p2p-port-collision');
    expect(r.output).not.toMatch(/Known failure: (?!p2p-port-collision)/);
  });

  test('plan announces nothing; fix writes nothing, restarts nothing, and stops red with the remedy', async () => {
    const twin = started();
    const before = footprint(twin);
    const secrets = snapshot(twin);
    const planned = workspace();
    const plan = await runbook(twin, 'plan', planned);
    outputs.push(plan.output, planned.artifacts());
    expect(plan.code).toBe(1);
    expect(plan.output).not.toContain('[plan]');
    const ws = workspace();
    const fix = await runbook(twin, 'fix', ws);
    outputs.push(fix.output, ws.artifacts());
    expect(fix.code).toBe(1);
    expect(fix.output).toContain('nothing to wait for (what blocks it does not clear by waiting)');
    expect(fix.output).toContain(COLLISION);
    expect(fix.output).toContain('To do: change the P2P port');
    expect(changes(before, footprint(twin))).toMatchObject({
      secretVersions: 0,
      nodeFileWrites: 0,
      containerStarts: 0,
    });
    expect(snapshot(twin)).toEqual(secrets);
    expect([...planned.journals(), ...ws.journals()]).toEqual([]);
    expect(leakedSecrets(twin, outputs.join('\n'))).toEqual([]);
  });
});

describe('runbook on incident-as-deployed', () => {
  const started = useTwin('incident-as-deployed');
  const outputs: string[] = [];

  test('gate: red at 01–04, naming the keys and the collision', async () => {
    const twin = started();
    const ws = workspace();
    const r = await runbook(twin, 'gate', ws);
    outputs.push(r.output, ws.artifacts());
    expect(r.code).toBe(1);
    for (const step of ['01-keys-match', '02-secrets-restored', '03-nodes-healthy'])
      expect(r.output).toMatch(new RegExp(`${step} +\\d+ passed, [1-9]\\d* failed`));
    expect(r.output).toMatch(/04-contract-running +\d+ passed, [1-9] failed/);
    const nodes = 'mpc-node-0.localnet, mpc-node-1.localnet and mpc-node-2.localnet';
    expect(r.output).toContain(`${nodes} fail their transactions with AccessKeyNotFound`);
    expect(r.output).toContain('To do: repair the keys first: steps 01–03');
    expect(r.output).toContain(COLLISION);
    // Not logged yet: the nodes cannot even attest, so their key event job never starts.
    expect(r.output).toContain('not logged yet');
    expect(r.output).toContain('Known failure: incident-as-deployed');
  });

  test('fix repairs the keys (02, 03), then stops red at 04 naming the collision; writes nothing else', async () => {
    const twin = started();
    const before = footprint(twin);
    const ws = workspace();
    const fix = await runbook(twin, 'fix', ws);
    outputs.push(fix.output, ws.artifacts());
    expect(fix.code).toBe(1);
    for (const step of ['01-keys-match', '02-secrets-restored', '03-nodes-healthy'])
      expect(fix.output).toMatch(new RegExp(`${step} +\\d+ passed, 0 failed`));
    expect(fix.output).toMatch(/04-contract-running +\d+ passed, [12] failed/);
    expect(fix.output).toContain(COLLISION);
    expect(fix.output).toContain('no node has logged AccessKeyNotFound since its container started');
    expect(fix.output).toContain('Known failure: p2p-port-collision');
    const changed = changes(before, footprint(twin));
    expect(changed).toMatchObject({ secretVersions: 3, nodeFileWrites: 3, containerStarts: 3 });
    expect(changed.files).toEqual(twin.nodes.map((n) => `mpc-node-${n.index}/secrets.json`));
    const done = readJournal(ws.journals()[0]!).filter((e) => e.phase === 'done');
    expect(done.map((e) => e.action.kind).sort()).toEqual([
      ...Array(3).fill('put-secret'),
      ...Array(3).fill('rematerialise-node-secrets'),
    ]);
    expect(leakedSecrets(twin, outputs.join('\n'))).toEqual([]);
  });
});
