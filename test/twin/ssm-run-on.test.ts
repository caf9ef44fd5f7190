/**
 * The runbook's SSM Run Command client (helpers/aws/ssm.ts runOn) against the twin's SSM: status
 * reads that back off, output taken from ListCommandInvocations when it fits, GetCommandInvocation
 * only for an output cut at 2,500 characters, under the twin's own timing and the aws profile.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { SSMClient } from '@aws-sdk/client-ssm';
import { runOn, splitPluginOutput, statusPollDelay } from '../../helpers/aws/ssm.ts';
import type { InstanceHost, InstanceInfo } from '../../twin/aws/instance-host.ts';
import { configureAwsFaults, defaultAwsFaults, type AwsEndpoint } from '../../twin/aws/server.ts';
import { pluginOutput } from '../../twin/aws/ssm.ts';
import { clientConfig, startTestEndpoint } from './aws-support.ts';

const IDS = ['i-0a0000000000000a1', 'i-0a0000000000000a2', 'i-0a0000000000000a3'];

type Outcome = { stdout?: string; stderr?: string; exitCode?: number; afterMs?: number };

/**
 * Instances whose "script" is its first line, JSON `{ "<instance>": {stdout, stderr, exitCode, afterMs} }`:
 * it ends at once (or after `afterMs`), so the timing is SSM's alone.
 */
function instantHost(): InstanceHost {
  const instances: InstanceInfo[] = IDS.map((id, n) => ({
    instanceId: id,
    pingStatus: 'Online',
    ipAddress: `10.0.1.${10 + n}`,
    computerName: `ip-10-0-1-${10 + n}.ec2.internal`,
    platformName: 'Amazon Linux',
    platformVersion: '2023',
  }));
  return {
    describe: () => instances.map((i) => ({ ...i })),
    setPing: () => {},
    run(instanceId, commands) {
      const plan = JSON.parse(commands[0]!) as Record<string, Outcome>;
      const p = plan[instanceId] ?? {};
      const result = { exitCode: p.exitCode ?? 0, stdout: p.stdout ?? '', stderr: p.stderr ?? '', timedOut: false };
      const done = new Promise<typeof result>((ok) => setTimeout(() => ok(result), p.afterMs ?? 0));
      return { done, cancel: () => {} };
    },
  };
}

describe('runOn against the twin SSM', () => {
  let aws: AwsEndpoint;
  let ssm: SSMClient;
  beforeAll(async () => {
    aws = await startTestEndpoint(instantHost());
    ssm = new SSMClient(clientConfig(aws));
  });
  afterEach(() => {
    Object.assign(aws.faults, defaultAwsFaults());
    aws.resetStats();
  });
  afterAll(async () => {
    ssm?.destroy();
    await aws?.stop();
  });

  const ssmCalls = () => aws.stats().ssm ?? {};
  const run = (plan: Record<string, Outcome>, ids = IDS) =>
    runOn(ssm, ids, [JSON.stringify(plan)], { timeoutS: 30, comment: 'runOn test' });

  test('status reads: 0.3, 1.1, 2.1, 3.1 s, then a third of the time since the send apart, 5 s at most', () => {
    const readsAt = [300];
    while (readsAt.length < 14) readsAt.push(readsAt.at(-1)! + statusPollDelay(readsAt.length, readsAt.at(-1)!));
    expect(readsAt.slice(0, 4)).toEqual([300, 1100, 2100, 3100]);
    expect(readsAt.slice(4, 9).map((ms) => Math.round(ms / 100) / 10)).toEqual([4.1, 5.5, 7.3, 9.8, 13.1]);
    expect(readsAt.filter((ms) => ms < 30_000)).toHaveLength(12); // one a second: 30
    expect(statusPollDelay(20, 600_000)).toBe(5_000);
  });

  test('splitting plugin Output: stdout and stderr when whole; undefined when cut or ambiguous', () => {
    expect(splitPluginOutput(pluginOutput('out\n', 'err\n'))).toEqual({ stdout: 'out\n', stderr: 'err\n' });
    expect(splitPluginOutput(pluginOutput('', 'err\n'))).toEqual({ stdout: '', stderr: 'err\n' });
    expect(splitPluginOutput('')).toEqual({ stdout: '', stderr: '' });
    expect(splitPluginOutput(pluginOutput('x'.repeat(3_000), ''))).toBeUndefined();
    expect(splitPluginOutput(pluginOutput('short', 'e'.repeat(3_000)))).toBeUndefined();
    const title = '\n----------ERROR-------\n';
    expect(splitPluginOutput(`a${title}b${title}c`)).toBeUndefined();
  });

  test('twin timing: one SendCommand, one status read (at 0.3 s, all done), no GetCommandInvocation', async () => {
    const res = await run({
      [IDS[0]!]: { stdout: 'zero\n' },
      [IDS[1]!]: { stdout: 'one\n', stderr: 'warn\n' },
      [IDS[2]!]: { stdout: 'two\n', stderr: 'boom\n', exitCode: 3 },
    });
    expect(res.get(IDS[0]!)).toMatchObject({ status: 'Success', exitCode: 0, stdout: 'zero\n', stderr: '' });
    expect(res.get(IDS[1]!)).toMatchObject({ status: 'Success', stdout: 'one\n', stderr: 'warn\n' });
    expect(res.get(IDS[2]!)).toMatchObject({ status: 'Failed', exitCode: 3, stdout: 'two\n', stderr: 'boom\n' });
    const calls = ssmCalls();
    expect(calls.SendCommand).toBe(1);
    expect(calls.ListCommandInvocations).toBe(1);
    expect(calls.GetCommandInvocation).toBeUndefined();
  });

  test('an Output cut at 2,500 characters is read whole with GetCommandInvocation, on that instance only', async () => {
    const big = `${'line of output\n'.repeat(400)}end\n`;
    const res = await run({ [IDS[0]!]: { stdout: big }, [IDS[1]!]: { stdout: 'small\n' } }, IDS.slice(0, 2));
    expect(res.get(IDS[0]!)!.stdout).toBe(big);
    expect(res.get(IDS[1]!)!.stdout).toBe('small\n');
    expect(ssmCalls().GetCommandInvocation).toBe(1);
  });

  test('a command of 12 s: at most 10 status reads (one a second after the second read would take 13)', async () => {
    const res = await run({ [IDS[0]!]: { stdout: 'slow\n', afterMs: 12_000 } }, IDS.slice(0, 1));
    expect(res.get(IDS[0]!)).toMatchObject({ status: 'Success', stdout: 'slow\n' });
    expect(ssmCalls().ListCommandInvocations).toBeGreaterThanOrEqual(2);
    expect(ssmCalls().ListCommandInvocations).toBeLessThanOrEqual(10);
  });

  test('the aws profile (delivery, report, visibility delays): ≤ 3 status reads, no GetCommandInvocation', async () => {
    configureAwsFaults(aws.faults, { profile: 'aws' });
    const res = await run(Object.fromEntries(IDS.map((id) => [id, { stdout: `${id}\n` }])));
    for (const id of IDS) expect(res.get(id)).toMatchObject({ status: 'Success', stdout: `${id}\n` });
    const calls = ssmCalls();
    expect(calls.SendCommand).toBe(1);
    // Reads at 0.3 s (nothing visible yet) and 1.1 s (done 0.7 s after the send).
    expect(calls.ListCommandInvocations).toBe(2);
    expect(calls.GetCommandInvocation).toBeUndefined();
  });
});
