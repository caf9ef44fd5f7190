/** SSM Run Command on the twin's AWS endpoint, through the unmodified SDK v3 client (aws-facts §4). */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  InvalidInstanceId,
  InvocationDoesNotExist,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
  waitUntilCommandExecuted,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import { configureAwsFaults, defaultAwsFaults, type AwsEndpoint } from '../../twin/aws/server.ts';
import { createSsm, pluginOutput } from '../../twin/aws/ssm.ts';
import { clientConfig, fakeHost, rejection, startTestEndpoint, until, type FakeHost } from './aws-support.ts';

const IDS = Array.from({ length: 7 }, (_, i) => `i-0000000000000000${i}`);
const [A, B, C] = IDS as [string, string, string];

describe('SSM Run Command', () => {
  let host: FakeHost;
  let aws: AwsEndpoint;
  let ssm: SSMClient;
  beforeAll(async () => {
    host = fakeHost(IDS);
    aws = await startTestEndpoint(host);
    ssm = new SSMClient(clientConfig(aws));
  });
  afterEach(() => {
    Object.assign(aws.faults, defaultAwsFaults());
    for (const id of IDS) host.setPing(id, 'Online');
  });
  afterAll(async () => {
    ssm?.destroy();
    await aws?.stop();
    host?.cleanup();
  });

  const send = (
    instanceIds: string[],
    commands: string[],
    extra: { executionTimeout?: string; timeoutSeconds?: number; workingDirectory?: string } = {},
  ) =>
    ssm.send(
      new SendCommandCommand({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: instanceIds,
        Comment: 'test',
        ...(extra.timeoutSeconds ? { TimeoutSeconds: extra.timeoutSeconds } : {}),
        Parameters: {
          commands,
          ...(extra.executionTimeout ? { executionTimeout: [extra.executionTimeout] } : {}),
          ...(extra.workingDirectory ? { workingDirectory: [extra.workingDirectory] } : {}),
        },
      }),
    );

  /** Polls GetCommandInvocation until a terminal status (tolerating the eventual-consistency gap). */
  const finished = (commandId: string, instanceId: string) =>
    until(
      `invocation ${commandId} on ${instanceId}`,
      async (): Promise<GetCommandInvocationCommandOutput | undefined> => {
        try {
          const r = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
          return ['Success', 'Failed', 'TimedOut', 'Cancelled'].includes(r.Status!) ? r : undefined;
        } catch (e) {
          if ((e as Error).name === 'InvocationDoesNotExist') return undefined;
          throw e;
        }
      },
    );

  test('InvocationDoesNotExist right after SendCommand, then Success with stdout', async () => {
    aws.faults.invocationHiddenPolls = 1; // the first read misses it however long it took to ask
    const sent = await send([A], ['echo "hello from $PWD"', 'echo err >&2']);
    const cmd = sent.Command!;
    expect(cmd.CommandId).toMatch(/^[0-9a-f-]{36}$/);
    expect(cmd).toMatchObject({
      DocumentName: 'AWS-RunShellScript',
      Status: 'Pending',
      InstanceIds: [A],
      TargetCount: 1,
      CompletedCount: 0,
      TimeoutSeconds: 3600,
      MaxConcurrency: '50',
      MaxErrors: '0',
    });
    expect(cmd.RequestedDateTime).toBeInstanceOf(Date);
    expect(cmd.Parameters).toEqual({ commands: ['echo "hello from $PWD"', 'echo err >&2'] });

    const early = await rejection(
      ssm.send(new GetCommandInvocationCommand({ CommandId: cmd.CommandId, InstanceId: A })),
    );
    expect(early).toBeInstanceOf(InvocationDoesNotExist);
    expect(early.$metadata?.httpStatusCode).toBe(400);
    expect(early.message).toMatch(/didn't match any invocations/);

    const r = await finished(cmd.CommandId!, A);
    expect(r).toMatchObject({
      Status: 'Success',
      StatusDetails: 'Success',
      ResponseCode: 0,
      PluginName: 'aws:runShellScript',
      DocumentName: 'AWS-RunShellScript',
      StandardErrorContent: 'err\n',
      Comment: 'test',
    });
    expect(r.StandardOutputContent).toMatch(/^hello from .*i-00000000000000000\n$/);
    expect(r.ExecutionStartDateTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(r.ExecutionEndDateTime).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(r.ExecutionElapsedTime).toMatch(/^PT[\d.HM]+S$/);
    expect(host.runs.find((x) => x.instanceId === A)?.executionTimeoutSeconds).toBe(3600);
  });

  test('non-zero exit → Failed with ResponseCode; the list is empty on the first poll, then Details', async () => {
    aws.faults.invocationHiddenPolls = 1;
    const { Command } = await send([A, B], ['echo out', 'echo bad >&2', 'exit 3']);
    const first = await ssm.send(new ListCommandInvocationsCommand({ CommandId: Command!.CommandId, Details: true }));
    expect(first.CommandInvocations).toEqual([]);
    const list = await until('both invocations terminal', async () => {
      const r = await ssm.send(new ListCommandInvocationsCommand({ CommandId: Command!.CommandId, Details: true }));
      const l = r.CommandInvocations ?? [];
      return l.length === 2 && l.every((i) => i.Status === 'Failed') ? l : undefined;
    });
    for (const inv of list) {
      expect(inv.CommandPlugins).toHaveLength(1);
      expect(inv.CommandPlugins![0]).toMatchObject({
        Name: 'aws:runShellScript',
        Status: 'Failed',
        ResponseCode: 3,
        Output: 'out\n\n----------ERROR-------\nbad\n',
      });
      expect(inv.RequestedDateTime).toBeInstanceOf(Date);
    }
    const r = await ssm.send(new GetCommandInvocationCommand({ CommandId: Command!.CommandId, InstanceId: B }));
    expect(r).toMatchObject({
      Status: 'Failed',
      ResponseCode: 3,
      StandardOutputContent: 'out\n',
      StandardErrorContent: 'bad\n',
    });
    const cmds = await ssm.send(new ListCommandsCommand({ CommandId: Command!.CommandId }));
    expect(cmds.Commands![0]).toMatchObject({ Status: 'Failed', CompletedCount: 2, ErrorCount: 2, TargetCount: 2 });
  });

  test('execution timeout → TimedOut (ExecutionTimedOut)', async () => {
    const { Command } = await send([C], ['echo started', 'sleep 30'], { executionTimeout: '1' });
    const r = await finished(Command!.CommandId!, C);
    expect(r.Status).toBe('TimedOut');
    expect(r.StatusDetails).toBe('ExecutionTimedOut');
    expect(r.ResponseCode).not.toBe(0);
  });

  test('stdout cut at 24,000 characters, stderr at 8,000, plugin Output at 2,500 with the agent markers', async () => {
    const { Command } = await send(
      [A],
      ["head -c 30000 /dev/zero | tr '\\0' 'a'", "head -c 9000 /dev/zero | tr '\\0' 'b' >&2"],
    );
    const r = await finished(Command!.CommandId!, A);
    expect(r.Status).toBe('Success');
    expect(r.StandardOutputContent).toHaveLength(24_000);
    expect(r.StandardErrorContent).toHaveLength(8_000);
    const l = await ssm.send(
      new ListCommandInvocationsCommand({ CommandId: Command!.CommandId, InstanceId: A, Details: true }),
    );
    const output = l.CommandInvocations![0]!.CommandPlugins![0]!.Output!;
    expect(output).toHaveLength(2_500);
    // Both streams over half the room: half of each, each with its marker (agent iohandler.go TruncateOutput).
    const m = /^(a+)\n---Output truncated---\n----------ERROR-------\n(b+)\n---Error truncated----$/.exec(output);
    expect(m).not.toBeNull();
    expect(m![1]!.length).toBe(m![2]!.length);
  });

  test('plugin Output: short output whole; a long stream cut with its marker, the other kept whole', () => {
    expect(pluginOutput('out\n', '')).toBe('out\n');
    expect(pluginOutput('', 'err\n')).toBe('\n----------ERROR-------\nerr\n');
    const longOut = pluginOutput('a'.repeat(3_000), 'short\n');
    expect(longOut).toHaveLength(2_500);
    expect(longOut.endsWith('\n---Output truncated---\n----------ERROR-------\nshort\n')).toBe(true);
    const longErr = pluginOutput('short\n', 'e'.repeat(3_000));
    expect(longErr).toHaveLength(2_500);
    expect(longErr.startsWith('short\n\n----------ERROR-------\neee')).toBe(true);
    expect(longErr.endsWith('\n---Error truncated----')).toBe(true);
    // Just under the room fits whole; at the room it is cut.
    expect(pluginOutput('x'.repeat(2_499), '')).toBe('x'.repeat(2_499));
    expect(pluginOutput('x'.repeat(2_500), '')).toContain('---Output truncated---');
  });

  test("SendCommand answers before any instance starts the script (delivery is the agent's, later)", async () => {
    const own = fakeHost(IDS.slice(0, 3));
    const service = createSsm(own, { ...defaultAwsFaults(), invocationHiddenPolls: 0 });
    try {
      const ids = IDS.slice(0, 3);
      service.ops.SendCommand!({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: ids,
        Parameters: { commands: ['true'] },
      });
      expect(own.runs).toHaveLength(0);
      expect(service.invocations().map((i) => i.status)).toEqual(['Pending', 'Pending', 'Pending']);
      await until('every instance ran it', async () => (own.runs.length === 3 ? true : undefined), 2_000);
    } finally {
      service.stop();
      own.cleanup();
    }
  });

  test('delivery and report delays: Pending, InProgress, then the outcome, ended when the script ended', async () => {
    Object.assign(aws.faults, { invocationHiddenPolls: 0, ssmDeliveryDelayMs: 800, ssmReportDelayMs: 800 });
    const { Command } = await send([A], ['sleep 0.8', 'echo late']);
    const statuses: string[] = [];
    const last = await until(
      'the outcome',
      async () => {
        const r = await ssm.send(new ListCommandInvocationsCommand({ CommandId: Command!.CommandId, Details: true }));
        const inv = r.CommandInvocations?.[0];
        if (inv && statuses[statuses.length - 1] !== inv.Status) statuses.push(inv.Status!);
        if (inv?.Status === 'Success') expect(inv.CommandPlugins![0]!.Output).toBe('late\n');
        else expect(inv?.CommandPlugins?.[0]?.Output ?? '').toBe('');
        return inv?.Status === 'Success' ? inv : undefined;
      },
      1_000,
    );
    expect(statuses).toEqual(['Pending', 'InProgress', 'Success']);
    const plugin = last.CommandPlugins![0]!;
    const r = await ssm.send(new GetCommandInvocationCommand({ CommandId: Command!.CommandId, InstanceId: A }));
    expect(r.StandardOutputContent).toBe('late\n');
    // The outcome became visible after the script ended: the end time is the script's, not the report's.
    expect(plugin.ResponseFinishDateTime!.getTime()).toBeLessThan(Date.now());
    expect(new Date(r.ExecutionEndDateTime!).getTime()).toBe(plugin.ResponseFinishDateTime!.getTime());
  });

  test('the aws profile: invisible for invocationDelayMs after the send (an empty list), then visible', async () => {
    configureAwsFaults(aws.faults, { profile: 'aws', latencyMs: 0, invocationDelayMs: 60_000 });
    expect(aws.faults).toMatchObject({ invocationHiddenPolls: 0, ssmDeliveryDelayMs: 300, ssmReportDelayMs: 400 });
    const { Command } = await send([B], ['echo hidden']);
    for (let i = 0; i < 3; i++) {
      const r = await ssm.send(new ListCommandInvocationsCommand({ CommandId: Command!.CommandId }));
      expect(r.CommandInvocations).toEqual([]);
    }
    expect(
      (await rejection(ssm.send(new GetCommandInvocationCommand({ CommandId: Command!.CommandId, InstanceId: B }))))
        .name,
    ).toBe('InvocationDoesNotExist');
    aws.faults.invocationDelayMs = 0;
    expect((await finished(Command!.CommandId!, B)).StandardOutputContent).toBe('hidden\n');
  });

  test('ConnectionLost: undelivered, then TimedOut (DeliveryTimedOut); delivered if back in time', async () => {
    aws.faults.ssmTimeScale = 0.05; // TimeoutSeconds 30 → 1.5 s
    host.setPing(B, 'ConnectionLost');
    host.setPing(C, 'ConnectionLost');
    const runsBefore = host.runs.length;
    const { Command } = await send([B, C], ['echo delivered'], { timeoutSeconds: 30 });
    host.setPing(C, 'Online'); // C comes back before the delivery timeout
    const early = await until('visible', async () => {
      try {
        return await ssm.send(new GetCommandInvocationCommand({ CommandId: Command!.CommandId, InstanceId: B }));
      } catch {
        return undefined;
      }
    });
    expect(early.Status).toBe('Pending');
    expect(early.ResponseCode).toBe(-1);
    expect(early.ExecutionStartDateTime).toBe('');
    const lost = await finished(Command!.CommandId!, B);
    expect(lost).toMatchObject({ Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut', ResponseCode: -1 });
    const back = await finished(Command!.CommandId!, C);
    expect(back).toMatchObject({ Status: 'Success', StandardOutputContent: 'delivered\n' });
    expect(host.runs.slice(runsBefore).map((r) => r.instanceId)).toEqual([C]);
    const cmd = (await ssm.send(new ListCommandsCommand({ CommandId: Command!.CommandId }))).Commands![0]!;
    expect(cmd).toMatchObject({ Status: 'TimedOut', DeliveryTimedOutCount: 1, CompletedCount: 2 });
  });

  test('the SDK waiter waitUntilCommandExecuted works (SUCCESS, and FAILURE for a failing script)', async () => {
    const ok = await send([A], ['echo waited']);
    const w = await waitUntilCommandExecuted(
      { client: ssm, minDelay: 0.05, maxDelay: 0.1, maxWaitTime: 30 },
      { CommandId: ok.Command!.CommandId!, InstanceId: A },
    );
    expect(w.state).toBe('SUCCESS');
    expect((w.reason as GetCommandInvocationCommandOutput).StandardOutputContent).toBe('waited\n');

    const bad = await send([A], ['exit 1']);
    const e = await rejection(
      waitUntilCommandExecuted(
        { client: ssm, minDelay: 0.05, maxDelay: 0.1, maxWaitTime: 30 },
        { CommandId: bad.Command!.CommandId!, InstanceId: A },
      ),
    );
    expect(JSON.parse(e.message)).toMatchObject({ state: 'FAILURE', reason: { Status: 'Failed', ResponseCode: 1 } });
  });

  test('SendCommand validation: > 50 ids, unknown / Inactive instance, duplicates, document, timeouts', async () => {
    const many = Array.from({ length: 51 }, (_, i) => `i-${String(i).padStart(17, '0')}`);
    const tooMany = await rejection(send(many, ['true']));
    expect(tooMany.name).toBe('ValidationException');
    expect(tooMany.$metadata?.httpStatusCode).toBe(400);
    const unknown = await rejection(send(['i-0fffffffffffffff0'], ['true']));
    expect(unknown).toBeInstanceOf(InvalidInstanceId);
    host.setPing(C, 'Inactive');
    expect((await rejection(send([C], ['true']))).name).toBe('InvalidInstanceId');
    expect((await rejection(send([A, A], ['true']))).name).toBe('DuplicateInstanceId');
    expect((await rejection(send([A], ['true'], { timeoutSeconds: 5 }))).name).toBe('ValidationException');
    expect((await rejection(send([A], []))).name).toBe('InvalidParameters');
    expect((await rejection(send([A], ['true'], { executionTimeout: 'soon' }))).name).toBe('InvalidParameters');
    const doc = await rejection(
      ssm.send(
        new SendCommandCommand({
          DocumentName: 'AWS-RunPowerShellScript',
          InstanceIds: [A],
          Parameters: { commands: ['x'] },
        }),
      ),
    );
    expect(doc.name).toBe('InvalidDocument');
    // 50 is fine.
    const fifty = await rejection(send(many.slice(0, 50), ['true'])); // unknown ids, but past the length check
    expect(fifty.name).toBe('InvalidInstanceId');
  });

  test('CancelCommand cancels a running invocation; workingDirectory is honoured', async () => {
    const { Command } = await send([A], ['sleep 30']);
    await until('started', () =>
      aws.ssmInvocations().find((i) => i.commandId === Command!.CommandId)?.status === 'InProgress' ? true : undefined,
    );
    await ssm.send(new CancelCommandCommand({ CommandId: Command!.CommandId }));
    const r = await finished(Command!.CommandId!, A);
    expect(r.Status).toBe('Cancelled');
    expect((await ssm.send(new ListCommandsCommand({ CommandId: Command!.CommandId }))).Commands![0]!.Status).toBe(
      'Cancelled',
    );
    expect(
      (await rejection(ssm.send(new CancelCommandCommand({ CommandId: '00000000-0000-4000-8000-000000000000' })))).name,
    ).toBe('InvalidCommandId');

    const wd = await send([A], ['pwd'], { workingDirectory: '/tmp' });
    expect((await finished(wd.Command!.CommandId!, A)).StandardOutputContent).toBe('/tmp\n');
  });

  test('ssmHang fault: matching commands never finish until their execution timeout', async () => {
    aws.faults.ssmHang = { commandPattern: 'hang-me' };
    const runsBefore = host.runs.length;
    const hung = await send([A], ['echo hang-me'], { executionTimeout: '1' });
    const normal = await send([B], ['echo fine']);
    expect((await finished(normal.Command!.CommandId!, B)).Status).toBe('Success');
    const r = await finished(hung.Command!.CommandId!, A);
    expect(r).toMatchObject({ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut' });
    expect(host.runs.slice(runsBefore).map((x) => x.instanceId)).toEqual([B]);
  });

  test('DescribeInstanceInformation: filters and MaxResults pagination', async () => {
    host.setPing(B, 'ConnectionLost');
    const page1 = await ssm.send(new DescribeInstanceInformationCommand({ MaxResults: 5 }));
    expect(page1.InstanceInformationList).toHaveLength(5);
    expect(page1.NextToken).toBeTruthy();
    const page2 = await ssm.send(new DescribeInstanceInformationCommand({ MaxResults: 5, NextToken: page1.NextToken }));
    expect(page2.InstanceInformationList!.map((i) => i.InstanceId)).toEqual(IDS.slice(5));
    expect(page2.NextToken).toBeUndefined();
    const one = await ssm.send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [A, B] }], MaxResults: 50 }),
    );
    expect(one.InstanceInformationList!.map((i) => [i.InstanceId, i.PingStatus])).toEqual([
      [A, 'Online'],
      [B, 'ConnectionLost'],
    ]);
    expect(one.InstanceInformationList![0]).toMatchObject({
      PlatformType: 'Linux',
      ResourceType: 'EC2Instance',
      IPAddress: '10.0.0.10',
      ComputerName: 'ip-10-0-0-10.ec2.internal',
    });
    expect(one.InstanceInformationList![0]!.LastPingDateTime).toBeInstanceOf(Date);
    const lost = await ssm.send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: 'PingStatus', Values: ['ConnectionLost'] }] }),
    );
    expect(lost.InstanceInformationList!.map((i) => i.InstanceId)).toEqual([B]);
    expect(
      (
        await rejection(
          ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'Bogus', Values: ['x'] }] })),
        )
      ).name,
    ).toBe('InvalidFilterKey');
  });
});
