/**
 * SSM Run Command over the twin's instances (aws-facts §4): AWS-RunShellScript really runs under
 * bash on the instance; invocations go Pending → InProgress → Success | Failed | TimedOut |
 * Cancelled, are invisible for the first poll(s) after SendCommand (InvocationDoesNotExist /
 * an empty ListCommandInvocations), and output is cut as SSM cuts it (24,000 / 8,000 / 2,500).
 *
 * An instance that is ConnectionLost when the command is sent leaves the invocation Pending
 * (undelivered); it starts if the instance comes back Online before the delivery timeout
 * (`TimeoutSeconds`), else it ends TimedOut / DeliveryTimedOut.
 */
import { randomUUID } from 'node:crypto';
import type { InstanceHost, RunningCommand } from './instance-host.ts';
import { AwsError, epochSeconds, validationError } from './protocol.ts';

type Status = 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';
const TERMINAL: ReadonlySet<Status> = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled']);

interface Invocation {
  commandId: string;
  instanceId: string;
  status: Status;
  details: string;
  responseCode: number;
  stdout: string;
  stderr: string;
  requested: number;
  started?: number;
  ended?: number;
  running?: RunningCommand;
  /** Polls (GetCommandInvocation / ListCommandInvocations) that did not see it yet (eventual consistency). */
  hiddenPolls: number;
  timers: NodeJS.Timeout[];
}

interface Command {
  id: string;
  comment: string;
  commands: string[];
  workingDirectory?: string;
  instanceIds: string[];
  requested: number;
  /** Delivery timeout (s). */
  timeoutSeconds: number;
  /** Execution timeout (s), the document's executionTimeout. */
  executionTimeout: number;
  parameters: Record<string, string[]>;
}

export interface SsmFaults {
  /** Matching commands (regex on the joined commands; all commands when no pattern) never finish until their execution timeout. */
  ssmHang?: { commandPattern?: string } | undefined;
  /** How many GetCommandInvocation / ListCommandInvocations polls per invocation see nothing after SendCommand (default 1). */
  invocationHiddenPolls: number;
  /** And for how long at least (ms, default 0). */
  invocationDelayMs: number;
  /**
   * When a matching command is sent, these instances' SSM agents lose their connection first (the
   * instance drops offline mid-run: the command stays undelivered). One-shot: cleared once used.
   */
  ssmDropOffline?: { instanceIds: string[]; commandPattern?: string } | undefined;
  /** Multiplies the delivery and execution timeouts (e.g. 0.01 makes a 30 s delivery timeout 300 ms); 1 = real time. */
  ssmTimeScale: number;
}

const iso = (ms?: number) => (ms === undefined ? '' : new Date(ms).toISOString());
function duration(a?: number, b?: number): string {
  if (a === undefined || b === undefined) return '';
  const total = Math.max(0, (b - a) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = (total % 60).toFixed(3).replace(/\.?0+$/, '') || '0';
  return `PT${h ? `${h}H` : ''}${m ? `${m}M` : ''}${s}S`;
}

const INSTANCE_ID_RE = /(^i-(\w{8}|\w{17})$)|(^mi-\w{17}$)/;
const EXECUTION_TIMEOUT_RE = /^(([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800))$/;
const invocationMissing = () =>
  new AwsError(
    'InvocationDoesNotExist',
    "The command ID and managed node ID you specified didn't match any invocations. Verify the command ID and the managed node ID and try again.",
  );

const invalidCommandId = () => new AwsError('InvalidCommandId', 'Invalid command id.');

type Input = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

export function createSsm(host: InstanceHost, faults: SsmFaults) {
  const commands = new Map<string, Command>();
  const invocations = new Map<string, Invocation>();
  const key = (c: string, i: string) => `${c}|${i}`;
  let stopped = false;

  const pingOf = (id: string) => host.describe().find((x) => x.instanceId === id)?.pingStatus;
  const scaled = (seconds: number) => seconds * 1000 * (faults.ssmTimeScale > 0 ? faults.ssmTimeScale : 1);
  const later = (inv: Invocation, ms: number, fn: () => void) => {
    const t = setTimeout(fn, ms);
    t.unref();
    inv.timers.push(t);
  };

  function finish(inv: Invocation, status: Status, details: string, code: number) {
    if (TERMINAL.has(inv.status)) return;
    inv.status = status;
    inv.details = details;
    inv.responseCode = code;
    inv.ended = Date.now();
    for (const t of inv.timers) clearTimeout(t);
    inv.timers = [];
  }

  function start(inv: Invocation, cmd: Command) {
    if (stopped || inv.status !== 'Pending') return;
    inv.status = 'InProgress';
    inv.details = 'InProgress';
    inv.started = Date.now();
    const execMs = scaled(cmd.executionTimeout);
    const hang = faults.ssmHang;
    if (hang && (!hang.commandPattern || new RegExp(hang.commandPattern).test(cmd.commands.join('\n')))) {
      later(inv, execMs, () => finish(inv, 'TimedOut', 'ExecutionTimedOut', 137));
      return;
    }
    try {
      inv.running = host.run(inv.instanceId, cmd.commands, {
        executionTimeoutSeconds: execMs / 1000,
        ...(cmd.workingDirectory ? { workingDirectory: cmd.workingDirectory } : {}),
      });
    } catch (e) {
      inv.stderr = `failed to run commands: ${(e as Error).message}`.slice(0, 8_000);
      finish(inv, 'Failed', 'Failed', 1);
      return;
    }
    inv.running.done.then(
      (r) => {
        if (TERMINAL.has(inv.status)) return; // cancelled meanwhile
        inv.stdout = r.stdout.slice(0, 24_000);
        inv.stderr = r.stderr.slice(0, 8_000);
        if (r.timedOut) finish(inv, 'TimedOut', 'ExecutionTimedOut', r.exitCode);
        else if (r.exitCode === 0) finish(inv, 'Success', 'Success', 0);
        else finish(inv, 'Failed', 'Failed', r.exitCode);
      },
      (e: unknown) => {
        if (TERMINAL.has(inv.status)) return;
        inv.stderr = `failed to run commands: ${(e as Error).message}`.slice(0, 8_000);
        finish(inv, 'Failed', 'Failed', 1);
      },
    );
  }

  /** Delivered at once to an Online instance; otherwise retried until the delivery timeout. */
  function deliver(inv: Invocation, cmd: Command) {
    if (pingOf(inv.instanceId) === 'Online') return start(inv, cmd);
    const deadline = inv.requested + scaled(cmd.timeoutSeconds);
    const retry = () => {
      if (stopped || inv.status !== 'Pending') return;
      if (Date.now() >= deadline) return finish(inv, 'TimedOut', 'DeliveryTimedOut', -1);
      if (pingOf(inv.instanceId) === 'Online') return start(inv, cmd);
      later(inv, Math.max(1, Math.min(100, deadline - Date.now())), retry);
    };
    later(inv, Math.max(1, Math.min(100, deadline - Date.now())), retry);
  }

  /** Visible once polled `invocationHiddenPolls` times (by Get or List) and `invocationDelayMs` after the send; a refused poll counts. */
  const seen = (inv: Invocation) => {
    if (inv.hiddenPolls >= faults.invocationHiddenPolls && Date.now() - inv.requested >= faults.invocationDelayMs)
      return true;
    inv.hiddenPolls++;
    return false;
  };

  const cwOut = { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false };

  function invocationView(inv: Invocation, cmd: Command) {
    const done = TERMINAL.has(inv.status);
    return {
      CommandId: inv.commandId,
      InstanceId: inv.instanceId,
      Comment: cmd.comment,
      DocumentName: 'AWS-RunShellScript',
      DocumentVersion: '$DEFAULT',
      PluginName: 'aws:runShellScript',
      ResponseCode: inv.responseCode,
      ExecutionStartDateTime: iso(inv.started),
      ExecutionElapsedTime: duration(inv.started, inv.ended),
      ExecutionEndDateTime: iso(inv.started !== undefined ? inv.ended : undefined),
      Status: inv.status,
      StatusDetails: inv.details,
      StandardOutputContent: done ? inv.stdout : '',
      StandardOutputUrl: '',
      StandardErrorContent: done ? inv.stderr : '',
      StandardErrorUrl: '',
      CloudWatchOutputConfig: cwOut,
    };
  }

  function commandView(c: Command) {
    const invs = c.instanceIds.map((i) => invocations.get(key(c.id, i))!);
    const done = invs.filter((i) => TERMINAL.has(i.status));
    let status: string;
    if (done.length < invs.length) status = invs.some((i) => i.status !== 'Pending') ? 'InProgress' : 'Pending';
    else if (invs.every((i) => i.status === 'Success')) status = 'Success';
    else if (invs.some((i) => i.status === 'Cancelled')) status = 'Cancelled';
    else if (invs.some((i) => i.status === 'TimedOut')) status = 'TimedOut';
    else status = 'Failed';
    return {
      CommandId: c.id,
      DocumentName: 'AWS-RunShellScript',
      DocumentVersion: '$DEFAULT',
      Comment: c.comment,
      ExpiresAfter: epochSeconds(c.requested + (c.timeoutSeconds + c.executionTimeout) * 1000),
      Parameters: c.parameters,
      InstanceIds: [...c.instanceIds],
      Targets: [],
      RequestedDateTime: epochSeconds(c.requested),
      Status: status,
      StatusDetails: status,
      OutputS3Region: '',
      OutputS3BucketName: '',
      OutputS3KeyPrefix: '',
      MaxConcurrency: '50',
      MaxErrors: '0',
      TargetCount: invs.length,
      CompletedCount: done.length,
      ErrorCount: invs.filter(
        (i) => i.status === 'Failed' || (i.status === 'TimedOut' && i.details !== 'DeliveryTimedOut'),
      ).length,
      DeliveryTimedOutCount: invs.filter((i) => i.details === 'DeliveryTimedOut').length,
      ServiceRole: '',
      NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
      CloudWatchOutputConfig: cwOut,
      TimeoutSeconds: c.timeoutSeconds,
    };
  }

  function pluginOutput(inv: Invocation): string {
    if (!TERMINAL.has(inv.status)) return '';
    const text = inv.stdout + (inv.stderr ? `\n----------ERROR-------\n${inv.stderr}` : '');
    return text.slice(0, 2_500);
  }

  function page<T>(items: T[], max: unknown, token: unknown, o: { min: number; max: number; def: number }) {
    const m = num(max);
    if (m !== undefined && (m < o.min || m > o.max || !Number.isInteger(m))) {
      throw validationError(
        'maxResults',
        String(m),
        `Member must have value ${m < o.min ? `greater than or equal to ${o.min}` : `less than or equal to ${o.max}`}`,
      );
    }
    let startAt = 0;
    const t = str(token);
    if (t) {
      const d = /^ssm1:(\d+)$/.exec(Buffer.from(t, 'base64').toString('utf8'));
      if (!d) throw new AwsError('InvalidNextToken', 'The specified token is not valid.');
      startAt = Number(d[1]);
    }
    const size = m ?? o.def;
    const slice = items.slice(startAt, startAt + size);
    const next = startAt + size < items.length ? Buffer.from(`ssm1:${startAt + size}`).toString('base64') : undefined;
    return { slice, next };
  }

  const ops: Record<string, (i: Input) => unknown> = {
    SendCommand(i) {
      const doc = str(i.DocumentName);
      if (!doc) throw validationError('documentName', 'null', 'Member must not be null');
      if (doc !== 'AWS-RunShellScript')
        throw new AwsError('InvalidDocument', `Document with name ${doc} does not exist.`);
      if (i.Targets !== undefined && i.InstanceIds !== undefined) {
        throw new AwsError('InvalidParameters', 'You can specify either Targets or InstanceIds, but not both.');
      }
      if (i.Targets !== undefined)
        throw new AwsError('InvalidParameters', 'The twin supports InstanceIds only (no Targets).');
      const ids = Array.isArray(i.InstanceIds) ? i.InstanceIds.map(String) : [];
      if (ids.length > 50) {
        throw validationError(
          'instanceIds',
          `'[${ids.join(', ')}]'`,
          'Member must have length less than or equal to 50',
        );
      }
      if (ids.length < 1) throw new AwsError('InvalidInstanceId', 'No instances specified.');
      for (const id of ids) {
        if (!INSTANCE_ID_RE.test(id))
          throw validationError(
            'instanceIds',
            `'[${ids.join(', ')}]'`,
            `Member must satisfy constraint: [Member must satisfy regular expression pattern: ${INSTANCE_ID_RE.source}]`,
          );
      }
      if (new Set(ids).size !== ids.length) throw new AwsError('DuplicateInstanceId', 'Instance Id is duplicated');
      const timeoutSeconds = num(i.TimeoutSeconds) ?? 3600;
      if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 30 || timeoutSeconds > 2_592_000) {
        throw validationError(
          'timeoutSeconds',
          String(timeoutSeconds),
          timeoutSeconds < 30
            ? 'Member must have value greater than or equal to 30'
            : 'Member must have value less than or equal to 2592000',
        );
      }
      const comment = str(i.Comment) ?? '';
      if (comment.length > 100)
        throw validationError('comment', `'${comment}'`, 'Member must have length less than or equal to 100');
      const params = (i.Parameters ?? {}) as Record<string, unknown>;
      for (const k of Object.keys(params)) {
        if (!['commands', 'workingDirectory', 'executionTimeout'].includes(k))
          throw new AwsError('InvalidParameters', `document AWS-RunShellScript does not support parameters.`);
      }
      const cmds = Array.isArray(params.commands) ? params.commands.map(String) : [];
      if (!cmds.length) throw new AwsError('InvalidParameters', 'Parameter "commands" is required.');
      const execRaw = Array.isArray(params.executionTimeout) ? String(params.executionTimeout[0] ?? '') : '3600';
      if (!EXECUTION_TIMEOUT_RE.test(execRaw)) {
        throw new AwsError(
          'InvalidParameters',
          `Parameter "executionTimeout" "${execRaw}" failed to satisfy constraint: must be a number between 1 and 172800.`,
        );
      }
      const wd = Array.isArray(params.workingDirectory) ? String(params.workingDirectory[0] ?? '') : '';
      const known = host.describe();
      const bad = ids.filter((id) => {
        const inst = known.find((x) => x.instanceId === id);
        return !inst || inst.pingStatus === 'Inactive';
      });
      if (bad.length) throw new AwsError('InvalidInstanceId', 'Instances not in a valid state for account');
      const now = Date.now();
      const parameters: Record<string, string[]> = { commands: cmds };
      if (Array.isArray(params.executionTimeout)) parameters.executionTimeout = [execRaw];
      if (Array.isArray(params.workingDirectory)) parameters.workingDirectory = [wd];
      const cmd: Command = {
        id: randomUUID(),
        comment,
        commands: cmds,
        instanceIds: ids,
        requested: now,
        timeoutSeconds,
        executionTimeout: Number(execRaw),
        parameters,
        ...(wd ? { workingDirectory: wd } : {}),
      };
      commands.set(cmd.id, cmd);
      for (const id of ids) {
        const inv: Invocation = {
          commandId: cmd.id,
          instanceId: id,
          status: 'Pending',
          details: 'Pending',
          responseCode: -1,
          stdout: '',
          stderr: '',
          requested: now,
          hiddenPolls: 0,
          timers: [],
        };
        invocations.set(key(cmd.id, id), inv);
      }
      const drop = faults.ssmDropOffline;
      if (drop && (!drop.commandPattern || new RegExp(drop.commandPattern).test(cmds.join('\n')))) {
        faults.ssmDropOffline = undefined;
        for (const id of drop.instanceIds.filter((x) => ids.includes(x))) host.setPing(id, 'ConnectionLost');
      }
      const view = commandView(cmd);
      for (const id of ids) deliver(invocations.get(key(cmd.id, id))!, cmd);
      return { Command: view };
    },

    GetCommandInvocation(i) {
      const commandId = str(i.CommandId);
      const instanceId = str(i.InstanceId);
      if (commandId?.length !== 36)
        throw validationError('commandId', `'${commandId ?? 'null'}'`, 'Member must have length equal to 36');
      if (!instanceId || !INSTANCE_ID_RE.test(instanceId))
        throw new AwsError('InvalidInstanceId', 'Instance Id is not valid');
      const inv = invocations.get(key(commandId, instanceId));
      if (!inv) throw invocationMissing();
      if (!seen(inv)) throw invocationMissing();
      const plugin = str(i.PluginName);
      if (plugin !== undefined && plugin !== 'aws:runShellScript')
        throw new AwsError('InvalidPluginName', 'The plugin name is not valid.');
      return invocationView(inv, commands.get(inv.commandId)!);
    },

    ListCommandInvocations(i) {
      const commandId = str(i.CommandId);
      const instanceId = str(i.InstanceId);
      if (commandId !== undefined && commandId.length !== 36)
        throw validationError('commandId', `'${commandId}'`, 'Member must have length equal to 36');
      const cmds = [...commands.values()]
        .filter((c) => !commandId || c.id === commandId)
        .sort((a, b) => b.requested - a.requested);
      // Eventual consistency: an invocation's first poll(s) see nothing (an empty list, not an error).
      const list = cmds
        .flatMap((c) =>
          c.instanceIds.filter((id) => !instanceId || id === instanceId).map((id) => invocations.get(key(c.id, id))!),
        )
        .filter(seen);
      const { slice, next } = page(list, i.MaxResults, i.NextToken, { min: 1, max: 50, def: 50 });
      const details = i.Details === true;
      return {
        CommandInvocations: slice.map((inv) => {
          const c = commands.get(inv.commandId)!;
          return {
            CommandId: inv.commandId,
            InstanceId: inv.instanceId,
            InstanceName: host.describe().find((x) => x.instanceId === inv.instanceId)?.computerName ?? '',
            Comment: c.comment,
            DocumentName: 'AWS-RunShellScript',
            DocumentVersion: '$DEFAULT',
            RequestedDateTime: epochSeconds(inv.requested),
            Status: inv.status,
            StatusDetails: inv.details,
            TraceOutput: '',
            StandardOutputUrl: '',
            StandardErrorUrl: '',
            CommandPlugins: details
              ? [
                  {
                    Name: 'aws:runShellScript',
                    Status: inv.status,
                    StatusDetails: inv.details,
                    ResponseCode: inv.responseCode,
                    ...(inv.started !== undefined ? { ResponseStartDateTime: epochSeconds(inv.started) } : {}),
                    ...(inv.ended !== undefined && inv.started !== undefined
                      ? { ResponseFinishDateTime: epochSeconds(inv.ended) }
                      : {}),
                    Output: pluginOutput(inv),
                    StandardOutputUrl: '',
                    StandardErrorUrl: '',
                    OutputS3Region: '',
                    OutputS3BucketName: '',
                    OutputS3KeyPrefix: '',
                  },
                ]
              : [],
            ServiceRole: '',
            NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
            CloudWatchOutputConfig: cwOut,
          };
        }),
        ...(next ? { NextToken: next } : {}),
      };
    },

    ListCommands(i) {
      const commandId = str(i.CommandId);
      const instanceId = str(i.InstanceId);
      if (commandId !== undefined && commandId.length !== 36)
        throw validationError('commandId', `'${commandId}'`, 'Member must have length equal to 36');
      const list = [...commands.values()]
        .filter((c) => (!commandId || c.id === commandId) && (!instanceId || c.instanceIds.includes(instanceId)))
        .sort((a, b) => b.requested - a.requested);
      if (commandId && !list.length) throw invalidCommandId();
      const { slice, next } = page(list, i.MaxResults, i.NextToken, { min: 1, max: 50, def: 50 });
      return { Commands: slice.map(commandView), ...(next ? { NextToken: next } : {}) };
    },

    CancelCommand(i) {
      const commandId = str(i.CommandId);
      const c = commandId ? commands.get(commandId) : undefined;
      if (!c) throw invalidCommandId();
      const ids = Array.isArray(i.InstanceIds) ? i.InstanceIds.map(String) : c.instanceIds;
      for (const id of ids) {
        const inv = invocations.get(key(c.id, id));
        if (!inv || TERMINAL.has(inv.status)) continue;
        inv.running?.cancel();
        finish(inv, 'Cancelled', 'Cancelled', -1);
      }
      return {};
    },

    DescribeInstanceInformation(i) {
      if (i.Filters !== undefined && i.InstanceInformationFilterList !== undefined) {
        throw new AwsError(
          'InvalidFilterKey',
          'You can specify either Filters or InstanceInformationFilterList, but not both.',
        );
      }
      let list = host.describe();
      const legacy = (i.InstanceInformationFilterList ?? []) as { key?: string; valueSet?: string[] }[];
      const filters = [
        ...((i.Filters ?? []) as { Key?: string; Values?: string[] }[]).map((f) => ({
          Key: String(f.Key),
          Values: (f.Values ?? []).map(String),
        })),
        ...legacy.map((f) => ({ Key: String(f.key), Values: (f.valueSet ?? []).map(String) })),
      ];
      for (const f of filters) {
        if (f.Key === 'InstanceIds') list = list.filter((x) => f.Values.includes(x.instanceId));
        else if (f.Key === 'PingStatus') {
          for (const v of f.Values) {
            if (!['Online', 'ConnectionLost', 'Inactive'].includes(v))
              throw new AwsError(
                'InvalidInstanceInformationFilterValue',
                `${v} is not a valid value for the PingStatus filter.`,
              );
          }
          list = list.filter((x) => f.Values.includes(x.pingStatus));
        } else if (f.Key === 'PlatformTypes') list = list.filter(() => f.Values.includes('Linux'));
        else if (f.Key === 'ResourceType') list = list.filter(() => f.Values.includes('EC2Instance'));
        else if (
          ![
            'AgentVersion',
            'AssociationStatus',
            'IamRole',
            'ActivationIds',
            'SourceIds',
            'SourceTypes',
            'tag-key',
          ].includes(f.Key) &&
          !f.Key.startsWith('tag:')
        ) {
          throw new AwsError('InvalidFilterKey', `The filter key ${f.Key} is not valid.`);
        }
      }
      const { slice, next } = page(list, i.MaxResults, i.NextToken, { min: 5, max: 50, def: 10 });
      const now = Date.now();
      return {
        InstanceInformationList: slice.map((x) => ({
          InstanceId: x.instanceId,
          PingStatus: x.pingStatus,
          LastPingDateTime: epochSeconds(x.pingStatus === 'Online' ? now : now - 600_000),
          AgentVersion: '3.3.1142.0',
          IsLatestVersion: true,
          PlatformType: 'Linux',
          PlatformName: x.platformName,
          PlatformVersion: x.platformVersion,
          ResourceType: 'EC2Instance',
          IPAddress: x.ipAddress,
          ComputerName: x.computerName,
          AssociationStatus: 'Success',
          SourceId: x.instanceId,
          SourceType: 'AWS::EC2::Instance',
        })),
        ...(next ? { NextToken: next } : {}),
      };
    },
  };

  return {
    ops,
    /** Cancels everything still running and clears the timers (endpoint stop). */
    stop() {
      stopped = true;
      for (const inv of invocations.values()) {
        for (const t of inv.timers) clearTimeout(t);
        inv.timers = [];
        if (!TERMINAL.has(inv.status)) {
          inv.running?.cancel();
          finish(inv, 'Cancelled', 'Cancelled', -1);
        }
      }
    },
    /** Direct view for tests and the twin: every invocation's status. */
    invocations: () =>
      [...invocations.values()].map((v) => ({
        commandId: v.commandId,
        instanceId: v.instanceId,
        status: v.status,
        details: v.details,
        responseCode: v.responseCode,
      })),
  };
}
export type SsmService = ReturnType<typeof createSsm>;
