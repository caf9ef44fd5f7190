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

/**
 * Instances whose "script" is its first line, JSON `{ "<instance>": {stdout, stderr, exitCode} }`:
 * it ends at once, so the timing is SSM's alone.
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
      const plan = JSON.parse(commands[0]!) as Record<string, { stdout?: string; stderr?: string; exitCode?: number }>;
      const p = plan[instanceId] ?? {};
      const result = { exitCode: p.exitCode ?? 0, stdout: p.stdout ?? '', stderr: p.stderr ?? '', timedOut: false };
      return { done: Promise.resolve(result), cancel: () => {} };
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
  const run = (plan: Record<string, { stdout?: string; stderr?: string; exitCode?: number }>, ids = IDS) =>
    runOn(ssm, ids, [JSON.stringify(plan)], { timeoutS: 30, comment: 'runOn test' });

  test('status reads back off from a short first wait to a cap', () => {
    const waits = Array.from({ length: 7 }, (_, i) => statusPollDelay(i + 1));
    expect(waits).toEqual([800, 1000, 1000, 1000, 1000, 1000, 1000]);
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
