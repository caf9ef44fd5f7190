/**
 * The trap the written repair plan misses: Secrets Manager already holds the right keys, but the
 * bootstrap writes /data/secrets.json only if it is missing, so "restore secrets and restart" leaves
 * every node signing with its stale key.
 */
import { describe, expect, test } from 'vitest';
import { SSMClient } from '@aws-sdk/client-ssm';
import { runOn } from '../../helpers/aws/ssm.ts';
import { fixThenGate, leakedSecrets, runbook, workspace } from './runbook-runs.ts';
import { twinAwsConfig, useTwin } from '../twin-fixture.ts';

describe('runbook on stale-node-secrets', () => {
  const started = useTwin('stale-node-secrets');
  const ws = workspace();
  const outputs: string[] = [];

  test('gate is red at 01 and 03, and green at 02', async () => {
    const twin = started();
    const r = await runbook(twin, 'gate', ws);
    outputs.push(r.output);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/01-keys-match +1 passed, 3 failed/);
    expect(r.output).toMatch(/02-secrets-restored +4 passed, 0 failed/);
    expect(r.output).toMatch(/03-nodes-healthy +\d+ passed, 3 failed/);
  });

  test('restarting the containers alone (the written plan) leaves it red', async () => {
    const twin = started();
    const ssm = new SSMClient(twinAwsConfig(twin));
    const restarted = await runOn(
      ssm,
      twin.nodes.map((n) => n.instanceId),
      ['docker restart mpc-node'],
      { timeoutS: 60, comment: 'restart as the written plan says' },
    );
    expect([...restarted.values()].map((r) => r.status)).toEqual(twin.nodes.map(() => 'Success'));
    const answering = () =>
      Promise.all(
        twin.nodes.map((n) =>
          fetch(`http://${n.privateIp}:8080/health`).then(
            (r) => r.ok,
            () => false,
          ),
        ),
      );
    await expect.poll(answering, { timeout: 120_000, interval: 100 }).toEqual(twin.nodes.map(() => true));
    const r = await runbook(twin, 'gate', ws);
    outputs.push(r.output);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/03-nodes-healthy +\d+ passed, 3 failed/);
    expect(r.output).toContain(
      'which is not an access key of mpc-node-0.localnet — its transactions fail with AccessKeyNotFound',
    );
  });

  test('fix re-materialises the nodes and the gate goes green', async () => {
    const twin = started();
    const { fix, gate } = await fixThenGate(twin, ws);
    outputs.push(fix.output, gate.output);
    expect(leakedSecrets(twin, outputs.join('\n') + ws.artifacts())).toEqual([]);
  });
});
