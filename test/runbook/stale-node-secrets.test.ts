/**
 * The trap the written repair plan misses: Secrets Manager already holds the right keys, but the
 * bootstrap writes /data/secrets.json only if it is missing, so "restore secrets and restart" leaves
 * every node signing with its stale key.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startTwin, type Twin } from '../../twin/start.ts';
import { leakedSecrets, runbook, workspace } from './support.ts';

describe('runbook on stale-node-secrets', () => {
  let twin: Twin;
  const ws = workspace();
  const outputs: string[] = [];
  beforeAll(async () => {
    twin = await startTwin({ scenario: 'stale-node-secrets', blockTimeMs: 150 });
  });
  afterAll(async () => twin?.stop());

  test('gate is red at 01 and 03, and green at 02', async () => {
    const r = await runbook(twin, 'gate', ws);
    outputs.push(r.output);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/01-keys-match +1 passed, 3 failed/);
    expect(r.output).toMatch(/02-secrets-restored +4 passed, 0 failed/);
    expect(r.output).toMatch(/03-nodes-healthy +\d+ passed, 3 failed/);
  });

  test('restarting the containers alone (the written plan) leaves it red', async () => {
    const ssm = new SSMClient({ endpoint: twin.env.AWS_ENDPOINT_URL!, region: twin.env.AWS_REGION!, credentials: { accessKeyId: twin.env.AWS_ACCESS_KEY_ID!, secretAccessKey: twin.env.AWS_SECRET_ACCESS_KEY! } });
    await ssm.send(new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: twin.nodes.map((n) => n.instanceId), Parameters: { commands: ['docker restart mpc-node'] } }));
    await new Promise((r) => setTimeout(r, 3000));
    const r = await runbook(twin, 'gate', ws);
    outputs.push(r.output);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/03-nodes-healthy +\d+ passed, 3 failed/);
    expect(r.output).toContain('which is not an access key of mpc-node-0.localnet — its transactions fail with AccessKeyNotFound');
  });

  test('fix re-materialises the nodes and the gate goes green', async () => {
    const fix = await runbook(twin, 'fix', ws);
    outputs.push(fix.output);
    expect(fix.code, fix.output.slice(-3000)).toBe(0);
    const gate = await runbook(twin, 'gate', ws);
    outputs.push(gate.output);
    expect(gate.code, gate.output.slice(-3000)).toBe(0);
    expect(leakedSecrets(twin, outputs.join('\n') + ws.artifacts())).toEqual([]);
  });
});
