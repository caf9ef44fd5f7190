/**
 * SSM Run Command over the twin's instances: AWS-RunShellScript really runs under bash on the
 * instance; invocations go Pending → InProgress → Success | Failed | TimedOut | Cancelled, are
 * invisible for a moment after SendCommand (InvocationDoesNotExist), and output is cut as SSM cuts it.
 */
import { randomUUID } from 'node:crypto';
import type { InstanceHost, RunningCommand } from './instance-host.ts';
import { AwsError } from './protocol.ts';

interface Invocation {
  commandId: string;
  instanceId: string;
  status: 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';
  details: string;
  responseCode: number;
  stdout: string;
  stderr: string;
  visibleAt: number;
  requested: number;
  started?: number;
  ended?: number;
  running?: RunningCommand;
}

interface Command { id: string; comment: string; commands: string[]; instanceIds: string[]; requested: number; timeoutSeconds: number; executionTimeout: number }

export interface SsmFaults {
  /** Commands whose text matches never finish by themselves (they time out). */
  ssmHang?: { commandPattern: string };
  /** How long an invocation stays invisible after SendCommand. */
  invocationDelayMs: number;
}

const iso = (ms?: number) => (ms ? new Date(ms).toISOString() : '');
const duration = (a?: number, b?: number) => (a && b ? `PT${((b - a) / 1000).toFixed(3)}S` : '');

export function createSsm(host: InstanceHost, faults: SsmFaults) {
  const commands = new Map<string, Command>();
  const invocations = new Map<string, Invocation>();
  const key = (c: string, i: string) => `${c}|${i}`;

  function finish(inv: Invocation, status: Invocation['status'], details: string, code: number) {
    if (['Success', 'Failed', 'TimedOut', 'Cancelled'].includes(inv.status)) return;
    inv.status = status;
    inv.details = details;
    inv.responseCode = code;
    inv.ended = Date.now();
  }

  function start(inv: Invocation, cmd: Command) {
    inv.status = 'InProgress';
    inv.details = 'InProgress';
    inv.started = Date.now();
    const hang = faults.ssmHang && new RegExp(faults.ssmHang.commandPattern).test(cmd.commands.join('\n'));
    if (hang) {
      setTimeout(() => finish(inv, 'TimedOut', 'ExecutionTimedOut', -1), cmd.executionTimeout * 1000).unref();
      return;
    }
    inv.running = host.run(inv.instanceId, cmd.commands, { executionTimeoutSeconds: cmd.executionTimeout });
    inv.running.done.then(
      (r) => {
        inv.stdout = r.stdout.slice(0, 24_000);
        inv.stderr = r.stderr.slice(0, 8_000);
        if (r.timedOut) finish(inv, 'TimedOut', 'ExecutionTimedOut', r.exitCode);
        else finish(inv, r.exitCode === 0 ? 'Success' : 'Failed', r.exitCode === 0 ? 'Success' : 'Failed', r.exitCode);
      },
      (e) => {
        inv.stderr = String((e as Error).message).slice(0, 8_000);
        finish(inv, 'Failed', 'Failed', 1);
      },
    );
  }

  /** An undelivered invocation starts when its instance comes back, or times out on delivery. */
  function deliver(inv: Invocation, cmd: Command) {
    const online = host.describe().find((x) => x.instanceId === inv.instanceId)?.pingStatus === 'Online';
    if (online) return start(inv, cmd);
    const timer = setInterval(() => {
      if (inv.status !== 'Pending') return clearInterval(timer);
      if (Date.now() - inv.requested > cmd.timeoutSeconds * 1000) {
        clearInterval(timer);
        return finish(inv, 'TimedOut', 'DeliveryTimedOut', -1);
      }
      if (host.describe().find((x) => x.instanceId === inv.instanceId)?.pingStatus === 'Online') {
        clearInterval(timer);
        start(inv, cmd);
      }
    }, 100);
    timer.unref();
  }

  const invocationView = (inv: Invocation, cmd: Command) => ({
    CommandId: inv.commandId, InstanceId: inv.instanceId, Comment: cmd.comment, DocumentName: 'AWS-RunShellScript', DocumentVersion: '$DEFAULT',
    PluginName: 'aws:runShellScript', ResponseCode: inv.responseCode, ExecutionStartDateTime: iso(inv.started), ExecutionElapsedTime: duration(inv.started, inv.ended),
    ExecutionEndDateTime: iso(inv.ended), Status: inv.status, StatusDetails: inv.details,
    StandardOutputContent: inv.ended ? inv.stdout : '', StandardOutputUrl: '', StandardErrorContent: inv.ended ? inv.stderr : '', StandardErrorUrl: '',
    CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
  });

  const commandView = (c: Command) => {
    const invs = c.instanceIds.map((i) => invocations.get(key(c.id, i))!);
    const done = invs.filter((i) => ['Success', 'Failed', 'TimedOut', 'Cancelled'].includes(i.status));
    const status = done.length < invs.length ? (invs.some((i) => i.status === 'InProgress') ? 'InProgress' : 'Pending')
      : invs.every((i) => i.status === 'Success') ? 'Success' : invs.some((i) => i.status === 'TimedOut') ? 'TimedOut' : invs.some((i) => i.status === 'Cancelled') ? 'Cancelled' : 'Failed';
    return {
      CommandId: c.id, DocumentName: 'AWS-RunShellScript', DocumentVersion: '$DEFAULT', Comment: c.comment, ExpiresAfter: c.requested / 1000 + c.timeoutSeconds + c.executionTimeout,
      Parameters: { commands: c.commands }, InstanceIds: c.instanceIds, Targets: [], RequestedDateTime: c.requested / 1000, Status: status, StatusDetails: status,
      OutputS3BucketName: '', OutputS3KeyPrefix: '', MaxConcurrency: '50', MaxErrors: '0', TargetCount: invs.length, CompletedCount: done.length,
      ErrorCount: invs.filter((i) => i.status === 'Failed').length, DeliveryTimedOutCount: invs.filter((i) => i.details === 'DeliveryTimedOut').length,
      ServiceRole: '', NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
      CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false }, TimeoutSeconds: c.timeoutSeconds,
    };
  };

  const ops: Record<string, (i: any) => unknown> = {
    SendCommand(i) {
      if (i.DocumentName !== 'AWS-RunShellScript') throw new AwsError('InvalidDocument', `Document ${i.DocumentName} does not exist in your account.`);
      const ids: string[] = i.InstanceIds ?? [];
      if (ids.length < 1 || ids.length > 50) throw new AwsError('ValidationException', `1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to 50`);
      if (new Set(ids).size !== ids.length) throw new AwsError('DuplicateInstanceId', 'Instance Id is duplicated');
      const cmds: string[] | undefined = i.Parameters?.commands;
      if (!cmds?.length) throw new AwsError('InvalidParameters', 'Parameter "commands" is required.');
      const known = host.describe();
      for (const id of ids) {
        const inst = known.find((x) => x.instanceId === id);
        if (!inst || inst.pingStatus === 'Inactive') throw new AwsError('InvalidInstanceId', 'Instances not in a valid state for account');
      }
      const cmd: Command = {
        id: randomUUID(), comment: i.Comment ?? '', commands: cmds, instanceIds: ids, requested: Date.now(),
        timeoutSeconds: i.TimeoutSeconds ?? 3600, executionTimeout: Number(i.Parameters?.executionTimeout?.[0] ?? 3600),
      };
      commands.set(cmd.id, cmd);
      for (const id of ids) {
        const inv: Invocation = { commandId: cmd.id, instanceId: id, status: 'Pending', details: 'Pending', responseCode: -1, stdout: '', stderr: '', visibleAt: Date.now() + faults.invocationDelayMs, requested: Date.now() };
        invocations.set(key(cmd.id, id), inv);
        deliver(inv, cmd);
      }
      return { Command: commandView(cmd) };
    },
    GetCommandInvocation(i) {
      const inv = invocations.get(key(i.CommandId, i.InstanceId));
      if (!inv || Date.now() < inv.visibleAt) throw new AwsError('InvocationDoesNotExist', "The command ID and managed node ID you specified didn't match any invocations. Verify the command ID and the managed node ID and try again.");
      if (i.PluginName && i.PluginName !== 'aws:runShellScript') throw new AwsError('InvalidPluginName', 'The plugin name is not valid.');
      return invocationView(inv, commands.get(inv.commandId)!);
    },
    ListCommandInvocations(i) {
      const list = [...invocations.values()].filter((v) => (!i.CommandId || v.commandId === i.CommandId) && (!i.InstanceId || v.instanceId === i.InstanceId) && Date.now() >= v.visibleAt);
      return {
        CommandInvocations: list.map((inv) => {
          const c = commands.get(inv.commandId)!;
          return {
            CommandId: inv.commandId, InstanceId: inv.instanceId, InstanceName: '', Comment: c.comment, DocumentName: 'AWS-RunShellScript', DocumentVersion: '$DEFAULT',
            RequestedDateTime: inv.requested / 1000, Status: inv.status, StatusDetails: inv.details, StandardOutputUrl: '', StandardErrorUrl: '',
            CommandPlugins: i.Details ? [{
              Name: 'aws:runShellScript', Status: inv.status, StatusDetails: inv.details, ResponseCode: inv.responseCode,
              ...(inv.started ? { ResponseStartDateTime: inv.started / 1000 } : {}), ...(inv.ended ? { ResponseFinishDateTime: inv.ended / 1000 } : {}),
              Output: (inv.stdout + (inv.stderr ? `\n----------ERROR-------\n${inv.stderr}` : '')).slice(0, 2500), StandardOutputUrl: '', StandardErrorUrl: '',
              OutputS3Region: '', OutputS3BucketName: '', OutputS3KeyPrefix: '',
            }] : [],
            ServiceRole: '', CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
          };
        }),
      };
    },
    ListCommands(i) {
      const list = [...commands.values()].filter((c) => !i.CommandId || c.id === i.CommandId);
      if (i.CommandId && !list.length) throw new AwsError('InvalidCommandId', 'Invalid command id');
      return { Commands: list.map(commandView) };
    },
    CancelCommand(i) {
      const c = commands.get(i.CommandId);
      if (!c) throw new AwsError('InvalidCommandId', 'Invalid command id');
      for (const id of i.InstanceIds ?? c.instanceIds) {
        const inv = invocations.get(key(c.id, id));
        if (!inv) continue;
        inv.running?.cancel();
        finish(inv, 'Cancelled', 'Cancelled', -1);
      }
      return {};
    },
    DescribeInstanceInformation(i) {
      let list = host.describe();
      for (const f of (i.Filters ?? []) as { Key: string; Values: string[] }[]) {
        if (f.Key === 'InstanceIds') list = list.filter((x) => f.Values.includes(x.instanceId));
        else if (f.Key === 'PingStatus') list = list.filter((x) => f.Values.includes(x.pingStatus));
        else if (!['PlatformTypes', 'ResourceType', 'AgentVersion'].includes(f.Key)) throw new AwsError('InvalidFilterKey', `The filter key ${f.Key} is not valid.`);
      }
      const start = i.NextToken ? Number(i.NextToken) : 0;
      const size = i.MaxResults ?? 10;
      const page = list.slice(start, start + size);
      return {
        InstanceInformationList: page.map((x) => ({
          InstanceId: x.instanceId, PingStatus: x.pingStatus, LastPingDateTime: Date.now() / 1000, AgentVersion: '3.3.1142.0', IsLatestVersion: true,
          PlatformType: 'Linux', PlatformName: x.platformName, PlatformVersion: x.platformVersion, ResourceType: 'EC2Instance', IPAddress: x.ipAddress, ComputerName: x.computerName,
        })),
        ...(start + size < list.length ? { NextToken: String(start + size) } : {}),
      };
    },
  };
  return { ops };
}
