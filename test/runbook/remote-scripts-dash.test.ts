/**
 * The runbook's remote scripts as SSM really runs them: under dash (the MPC nodes too, stricter
 * than their bash-as-sh), with the agent's environment and the instance metadata service disabled,
 * so `aws` has no region but the one the script passes. Then the runbook end to end (fix, then
 * the gate) on the stale-node-secrets twin with IMDS disabled everywhere.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SSMClient } from '@aws-sdk/client-ssm';
import { describe, expect, test } from 'vitest';
import { runOn } from '../../helpers/aws/ssm.ts';
import {
  containerLastWordsScript,
  containerStatusScript,
  nodePublicDataScript,
  parseContainerStatus,
  parsePublicData,
} from '../../helpers/instances/node-reports.ts';
import {
  parseRematerialise,
  rematerialiseScript,
  restoreNodeFileScript,
} from '../../helpers/repairs/rematerialise-node-secrets.ts';
import type { Twin } from '../../twin/start.ts';
import { fixThenGate, leakedSecrets, workspace } from './runbook-runs.ts';
import { twinAwsConfig, useTwin } from '../twin-fixture.ts';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Every instance: IMDS off; every MPC node: dash instead of bash-as-sh. */
function strictInstances(twin: Twin) {
  for (const i of twin.fleet.instances()) {
    twin.fleet.setInstanceMetadata(i.instanceId, false);
    if (i.role === 'mpc-node') twin.fleet.setShell(i.instanceId, 'dash');
  }
}

const ssmFor = (twin: Twin) => new SSMClient(twinAwsConfig(twin));

describe('the runbook’s remote scripts under dash, IMDS disabled (healthy twin)', () => {
  const startedTwin = useTwin('healthy');

  test('aws without --region fails there (253): the scripts cannot lean on IMDS', async () => {
    const twin = startedTwin();
    strictInstances(twin);
    const id = twin.nodes[0]!.instanceId;
    const r = await runOn(
      ssmFor(twin),
      [id],
      ['aws secretsmanager describe-secret --secret-id mpc-node-0-mpc_account_sk'],
      {
        timeoutS: 30,
        comment: 'aws without a region',
      },
    );
    expect(r.get(id)).toMatchObject({ status: 'Failed', exitCode: 253 });
    expect(r.get(id)!.stderr).toContain('You must specify a region.');
  });

  test('node reports: /health and /public_data from the NEAR base, container state on the nodes', async () => {
    const twin = startedTwin();
    strictInstances(twin);
    const ssm = ssmFor(twin);
    const base = twin.nearBase.instanceId;
    const script = nodePublicDataScript(twin.nodes.map((n) => ({ index: n.index, ip: n.privateIp })));
    const pd = (await runOn(ssm, [base], script, { timeoutS: 60, comment: 'public data' })).get(base)!;
    expect(pd.status, pd.stderr).toBe('Success');
    const reports = parsePublicData(pd.stdout);
    for (const n of twin.nodes) {
      expect(reports.get(n.index)).toMatchObject({ health: '200', signer: expect.stringMatching(/^ed25519:/) });
    }
    const ids = twin.nodes.map((n) => n.instanceId);
    for (const s of [containerStatusScript, containerLastWordsScript]) {
      const r = await runOn(ssm, ids, s, { timeoutS: 60, comment: 'container status' });
      for (const id of ids) {
        expect(r.get(id)!.status, r.get(id)!.stderr).toBe('Success');
        expect(parseContainerStatus(r.get(id)!.stdout)).toMatchObject({ state: 'running', accessKeyNotFound: 0 });
      }
    }
  });

  test('rematerialise (region given, and the agent’s region) and its rollback', async () => {
    const twin = startedTwin();
    strictInstances(twin);
    const ssm = ssmFor(twin);
    const expected = twin.nodes.map((n) => ({
      index: n.index,
      accountSha256: sha256(twin.aws.secrets.current(`mpc-node-${n.index}-mpc_account_sk`)!),
      p2pSha256: sha256(twin.aws.secrets.current(`mpc-node-${n.index}-mpc_p2p_private_key`)!),
    }));
    const node = twin.nodes[0]!;
    const before = readFileSync(join(node.dataDir, 'secrets.json'));
    let backup = '';
    for (const [runId, script] of [
      ['dash-region', rematerialiseScript('dash-region', expected, 'us-east-1')],
      ['dash-agent', rematerialiseScript('dash-agent', expected)],
    ] as const) {
      const r = (await runOn(ssm, [node.instanceId], script, { timeoutS: 90, comment: runId })).get(node.instanceId)!;
      expect(r.status, r.stderr).toBe('Success');
      const out = parseRematerialise(r.stdout)!;
      expect(out).toMatchObject({ index: 0, backedUp: true, after: expect.stringMatching(/^[0-9a-f]{64}$/) });
      if (runId === 'dash-region') {
        expect(out.before).toBe(createHash('sha256').update(before).digest('hex'));
        backup = out.backupPath; // what the journal records
      }
      expect(leakedSecrets(twin, r.stdout + r.stderr)).toEqual([]);
    }
    // The file the script wrote is what the node needs: same keys, so the same bytes as JSON.
    const written = JSON.parse(readFileSync(join(node.dataDir, 'secrets.json'), 'utf8'));
    expect(written.near_signer_key).toBe(twin.aws.secrets.current('mpc-node-0-mpc_account_sk'));
    const restored = (
      await runOn(ssm, [node.instanceId], restoreNodeFileScript(backup), { timeoutS: 90, comment: 'restore' })
    ).get(node.instanceId)!;
    expect(restored.status, restored.stderr).toBe('Success');
    expect(readFileSync(join(node.dataDir, 'secrets.json'))).toEqual(before);
  });

  test('a value that is not the one the runbook checked is refused under dash too', async () => {
    const twin = startedTwin();
    strictInstances(twin);
    const node = twin.nodes[1]!;
    const wrong = [{ index: 1, accountSha256: 'f'.repeat(64), p2pSha256: 'f'.repeat(64) }];
    const r = (
      await runOn(ssmFor(twin), [node.instanceId], rematerialiseScript('dash-wrong', wrong, 'us-east-1'), {
        timeoutS: 60,
        comment: 'wrong sha',
      })
    ).get(node.instanceId)!;
    expect(r).toMatchObject({ status: 'Failed', exitCode: 4 });
    expect(r.stderr).toMatch(/mpc-node-1-mpc_account_sk is not the value the runbook checked; nothing written/);
  });
});

describe('the runbook end to end with IMDS disabled on every instance (stale-node-secrets)', () => {
  const startedTwin = useTwin('stale-node-secrets');

  test('fix re-materialises every node, then the gate is green', async () => {
    const twin = startedTwin();
    strictInstances(twin);
    const ws = workspace();
    const { fix, gate } = await fixThenGate(twin, ws);
    expect(fix.output).toMatch(/03-nodes-healthy +\d+ passed, 0 failed/);
    for (const out of [fix.output, gate.output, ws.artifacts()]) expect(leakedSecrets(twin, out)).toEqual([]);
  });
});
