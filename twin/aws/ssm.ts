/**
 * SSM Run Command over the twin's instances (aws-facts §4): AWS-RunShellScript really runs under
 * bash on the instance; invocations go Pending → InProgress → Success | Failed | TimedOut |
 * Cancelled, are invisible for a while after SendCommand (`invocationDelayMs`, a matter of time as on
 * AWS; or the first `invocationHiddenPolls` polls): InvocationDoesNotExist / an empty
 * ListCommandInvocations. Output is cut as SSM cuts it (24,000 / 8,000 characters in
 * GetCommandInvocation; 2,500 in ListCommandInvocations' plugin Output, with the agent's markers).
 *
 * Time as AWS shows it is a fault knob: `ssmDeliveryDelayMs` (SendCommand until the agent starts
 * the script) and `ssmReportDelayMs` (the script's end until SSM shows the outcome).
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
  /** Matching commands (regex on the joined commands; all when no pattern) hang until their execution timeout. */
  ssmHang?: { commandPattern?: string } | undefined;
  /** How many GetCommandInvocation / ListCommandInvocations polls per invocation see nothing (default 1). */
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
  /** From SendCommand (to an Online instance) until the agent starts the script: still Pending (ms, default 0). */
  ssmDeliveryDelayMs: number;
  /** From the script's end until SSM shows its outcome and output (the agent's reply; ms, default 0). */
  ssmReportDelayMs: number;
}

interface SsmState {
  host: InstanceHost;
  faults: SsmFaults;
  commands: Map<string, Command>;
  invocations: Map<string, Invocation>;
  stopped: boolean;
}

const key = (c: string, i: string) => `${c}|${i}`;
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
    "The command ID and managed node ID you specified didn't match any invocations. " +
      'Verify the command ID and the managed node ID and try again.',
  );

const invalidCommandId = () => new AwsError('InvalidCommandId', 'Invalid command id.');

type Input = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

// --- plugin output as the SSM agent cuts it -------------------------------------------------------

/**
 * The agent's limits and markers (amazon-ssm-agent agent/framework/processor/executer/iohandler/
 * iohandler.go: MaximumPluginOutputSize, errTitle, truncateOut, truncateError).
 */
export const PLUGIN_OUTPUT_MAX = 2_500;
export const PLUGIN_ERROR_TITLE = '\n----------ERROR-------\n';
export const PLUGIN_OUTPUT_CUT = '\n---Output truncated---';
export const PLUGIN_ERROR_CUT = '\n---Error truncated----';

/** The plugin `Output` of ListCommandInvocations (Details): stdout, error title, stderr, cut as the agent cuts them. */
export function pluginOutput(stdout: string, stderr: string, capacity = PLUGIN_OUTPUT_MAX): string {
  const title = stderr ? PLUGIN_ERROR_TITLE : '';
  const room = capacity - title.length;
  if (stdout.length + stderr.length < room) return stdout + title + stderr;
  if (stdout.length > room / 2 && stderr.length > room / 2) {
    const half = Math.floor((room - PLUGIN_ERROR_CUT.length - PLUGIN_OUTPUT_CUT.length) / 2);
    return stdout.slice(0, half) + PLUGIN_OUTPUT_CUT + title + stderr.slice(0, half) + PLUGIN_ERROR_CUT;
  }
  if (stdout.length <= room / 2) {
    return stdout + title + stderr.slice(0, room - PLUGIN_ERROR_CUT.length - stdout.length) + PLUGIN_ERROR_CUT;
  }
  return stdout.slice(0, room - PLUGIN_OUTPUT_CUT.length - stderr.length) + PLUGIN_OUTPUT_CUT + title + stderr;
}

// --- an invocation's life: delivery, run, outcome -------------------------------------------------

const scaled = (faults: SsmFaults, seconds: number) =>
  seconds * 1000 * (faults.ssmTimeScale > 0 ? faults.ssmTimeScale : 1);
const infoOf = (s: SsmState, id: string) =>
  s.host.info ? s.host.info(id) : s.host.describe().find((x) => x.instanceId === id);
const pingOf = (s: SsmState, id: string) => infoOf(s, id)?.pingStatus;

function later(inv: Invocation, ms: number, fn: () => void) {
  const t = setTimeout(fn, ms);
  t.unref();
  inv.timers.push(t);
}

function finish(inv: Invocation, status: Status, details: string, code: number, endedAt = Date.now()) {
  if (TERMINAL.has(inv.status)) return;
  inv.status = status;
  inv.details = details;
  inv.responseCode = code;
  inv.ended = endedAt;
  for (const t of inv.timers) clearTimeout(t);
  inv.timers = [];
}

/** The script ended at `endedAt`; SSM shows it `ssmReportDelayMs` later (the agent's reply on its way). */
function report(s: SsmState, inv: Invocation, outcome: () => void) {
  const delay = s.faults.ssmReportDelayMs;
  if (delay > 0) later(inv, delay, outcome);
  else outcome();
}

function start(s: SsmState, inv: Invocation, cmd: Command) {
  if (s.stopped || inv.status !== 'Pending') return;
  inv.status = 'InProgress';
  inv.details = 'InProgress';
  inv.started = Date.now();
  const execMs = scaled(s.faults, cmd.executionTimeout);
  const hang = s.faults.ssmHang;
  if (hang && (!hang.commandPattern || new RegExp(hang.commandPattern).test(cmd.commands.join('\n')))) {
    later(inv, execMs, () => finish(inv, 'TimedOut', 'ExecutionTimedOut', 137));
    return;
  }
  const failedToRun = (e: unknown, endedAt: number) => {
    inv.stderr = `failed to run commands: ${(e as Error).message}`.slice(0, 8_000);
    finish(inv, 'Failed', 'Failed', 1, endedAt);
  };
  try {
    inv.running = s.host.run(inv.instanceId, cmd.commands, {
      executionTimeoutSeconds: execMs / 1000,
      ...(cmd.workingDirectory ? { workingDirectory: cmd.workingDirectory } : {}),
    });
  } catch (e) {
    failedToRun(e, Date.now());
    return;
  }
  inv.running.done.then(
    (r) => {
      if (TERMINAL.has(inv.status)) return; // cancelled meanwhile
      const endedAt = Date.now();
      report(s, inv, () => {
        inv.stdout = r.stdout.slice(0, 24_000);
        inv.stderr = r.stderr.slice(0, 8_000);
        if (r.timedOut) finish(inv, 'TimedOut', 'ExecutionTimedOut', r.exitCode, endedAt);
        else if (r.exitCode === 0) finish(inv, 'Success', 'Success', 0, endedAt);
        else finish(inv, 'Failed', 'Failed', r.exitCode, endedAt);
      });
    },
    (e: unknown) => {
      if (TERMINAL.has(inv.status)) return;
      const endedAt = Date.now();
      report(s, inv, () => failedToRun(e, endedAt));
    },
  );
}

/**
 * Delivered (after `ssmDeliveryDelayMs`, and after SendCommand has answered) to an Online instance;
 * otherwise retried until the delivery timeout.
 */
function deliver(s: SsmState, inv: Invocation, cmd: Command) {
  const deadline = inv.requested + scaled(s.faults, cmd.timeoutSeconds);
  const attempt = () => {
    if (s.stopped || inv.status !== 'Pending') return;
    if (pingOf(s, inv.instanceId) === 'Online') return start(s, inv, cmd);
    if (Date.now() >= deadline) return finish(inv, 'TimedOut', 'DeliveryTimedOut', -1);
    later(inv, Math.max(1, Math.min(100, deadline - Date.now())), attempt);
  };
  // Never inside SendCommand itself: AWS answers it before any agent starts the script.
  later(inv, s.faults.ssmDeliveryDelayMs, attempt);
}

/** Visible once polled `invocationHiddenPolls` times and `invocationDelayMs` after the send; a refused poll counts. */
function seen(faults: SsmFaults, inv: Invocation): boolean {
  if (inv.hiddenPolls >= faults.invocationHiddenPolls && Date.now() - inv.requested >= faults.invocationDelayMs)
    return true;
  inv.hiddenPolls++;
  return false;
}

// --- what the API shows ---------------------------------------------------------------------------

const cwOut = { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false };
const noNotification = { NotificationArn: '', NotificationEvents: [], NotificationType: '' };

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

function commandStatus(invs: Invocation[]): string {
  const done = invs.filter((i) => TERMINAL.has(i.status));
  if (done.length < invs.length) return invs.some((i) => i.status !== 'Pending') ? 'InProgress' : 'Pending';
  if (invs.every((i) => i.status === 'Success')) return 'Success';
  if (invs.some((i) => i.status === 'Cancelled')) return 'Cancelled';
  if (invs.some((i) => i.status === 'TimedOut')) return 'TimedOut';
  return 'Failed';
}

function commandView(s: SsmState, c: Command) {
  const invs = c.instanceIds.map((i) => s.invocations.get(key(c.id, i))!);
  const status = commandStatus(invs);
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
    CompletedCount: invs.filter((i) => TERMINAL.has(i.status)).length,
    ErrorCount: invs.filter(
      (i) => i.status === 'Failed' || (i.status === 'TimedOut' && i.details !== 'DeliveryTimedOut'),
    ).length,
    DeliveryTimedOutCount: invs.filter((i) => i.details === 'DeliveryTimedOut').length,
    ServiceRole: '',
    NotificationConfig: noNotification,
    CloudWatchOutputConfig: cwOut,
    TimeoutSeconds: c.timeoutSeconds,
  };
}

function pluginView(inv: Invocation) {
  return {
    Name: 'aws:runShellScript',
    Status: inv.status,
    StatusDetails: inv.details,
    ResponseCode: inv.responseCode,
    ...(inv.started !== undefined ? { ResponseStartDateTime: epochSeconds(inv.started) } : {}),
    ...(inv.ended !== undefined && inv.started !== undefined
      ? { ResponseFinishDateTime: epochSeconds(inv.ended) }
      : {}),
    Output: TERMINAL.has(inv.status) ? pluginOutput(inv.stdout, inv.stderr) : '',
    StandardOutputUrl: '',
    StandardErrorUrl: '',
    OutputS3Region: '',
    OutputS3BucketName: '',
    OutputS3KeyPrefix: '',
  };
}

function listEntry(s: SsmState, inv: Invocation, details: boolean) {
  const c = s.commands.get(inv.commandId)!;
  return {
    CommandId: inv.commandId,
    InstanceId: inv.instanceId,
    InstanceName: infoOf(s, inv.instanceId)?.computerName ?? '',
    Comment: c.comment,
    DocumentName: 'AWS-RunShellScript',
    DocumentVersion: '$DEFAULT',
    RequestedDateTime: epochSeconds(inv.requested),
    Status: inv.status,
    StatusDetails: inv.details,
    TraceOutput: '',
    StandardOutputUrl: '',
    StandardErrorUrl: '',
    CommandPlugins: details ? [pluginView(inv)] : [],
    ServiceRole: '',
    NotificationConfig: noNotification,
    CloudWatchOutputConfig: cwOut,
  };
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

// --- SendCommand ----------------------------------------------------------------------------------

/** InstanceIds as SendCommand accepts them: 1–50 ids of managed, not Inactive, instances, no duplicates. */
function validInstanceIds(host: InstanceHost, i: Input): string[] {
  if (i.Targets !== undefined && i.InstanceIds !== undefined) {
    throw new AwsError('InvalidParameters', 'You can specify either Targets or InstanceIds, but not both.');
  }
  if (i.Targets !== undefined)
    throw new AwsError('InvalidParameters', 'The twin supports InstanceIds only (no Targets).');
  const ids = Array.isArray(i.InstanceIds) ? i.InstanceIds.map(String) : [];
  const listed = `'[${ids.join(', ')}]'`;
  if (ids.length > 50) throw validationError('instanceIds', listed, 'Member must have length less than or equal to 50');
  if (ids.length < 1) throw new AwsError('InvalidInstanceId', 'No instances specified.');
  for (const id of ids) {
    if (!INSTANCE_ID_RE.test(id))
      throw validationError(
        'instanceIds',
        listed,
        `Member must satisfy constraint: [Member must satisfy regular expression pattern: ${INSTANCE_ID_RE.source}]`,
      );
  }
  if (new Set(ids).size !== ids.length) throw new AwsError('DuplicateInstanceId', 'Instance Id is duplicated');
  const known = host.describe();
  const bad = ids.filter((id) => {
    const inst = known.find((x) => x.instanceId === id);
    return !inst || inst.pingStatus === 'Inactive';
  });
  if (bad.length) throw new AwsError('InvalidInstanceId', 'Instances not in a valid state for account');
  return ids;
}

/** The document parameters of AWS-RunShellScript: commands (required), executionTimeout, workingDirectory. */
function validParameters(i: Input) {
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
  const parameters: Record<string, string[]> = { commands: cmds };
  if (Array.isArray(params.executionTimeout)) parameters.executionTimeout = [execRaw];
  if (Array.isArray(params.workingDirectory)) parameters.workingDirectory = [wd];
  return { cmds, executionTimeout: Number(execRaw), wd, parameters };
}

/** A validated SendCommand request as the command it creates (not yet registered). */
function parseSendCommand(host: InstanceHost, i: Input): Command {
  const doc = str(i.DocumentName);
  if (!doc) throw validationError('documentName', 'null', 'Member must not be null');
  if (doc !== 'AWS-RunShellScript') throw new AwsError('InvalidDocument', `Document with name ${doc} does not exist.`);
  const ids = validInstanceIds(host, i);
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
  const p = validParameters(i);
  return {
    id: randomUUID(),
    comment,
    commands: p.cmds,
    instanceIds: ids,
    requested: Date.now(),
    timeoutSeconds,
    executionTimeout: p.executionTimeout,
    parameters: p.parameters,
    ...(p.wd ? { workingDirectory: p.wd } : {}),
  };
}

function sendCommand(s: SsmState, i: Input) {
  const cmd = parseSendCommand(s.host, i);
  s.commands.set(cmd.id, cmd);
  for (const id of cmd.instanceIds) {
    s.invocations.set(key(cmd.id, id), {
      commandId: cmd.id,
      instanceId: id,
      status: 'Pending',
      details: 'Pending',
      responseCode: -1,
      stdout: '',
      stderr: '',
      requested: cmd.requested,
      hiddenPolls: 0,
      timers: [],
    });
  }
  const drop = s.faults.ssmDropOffline;
  if (drop && (!drop.commandPattern || new RegExp(drop.commandPattern).test(cmd.commands.join('\n')))) {
    s.faults.ssmDropOffline = undefined;
    for (const id of drop.instanceIds.filter((x) => cmd.instanceIds.includes(x))) s.host.setPing(id, 'ConnectionLost');
  }
  const view = commandView(s, cmd);
  for (const id of cmd.instanceIds) deliver(s, s.invocations.get(key(cmd.id, id))!, cmd);
  return { Command: view };
}

// --- reading commands and invocations --------------------------------------------------------------

function getCommandInvocation(s: SsmState, i: Input) {
  const commandId = str(i.CommandId);
  const instanceId = str(i.InstanceId);
  if (commandId?.length !== 36)
    throw validationError('commandId', `'${commandId ?? 'null'}'`, 'Member must have length equal to 36');
  if (!instanceId || !INSTANCE_ID_RE.test(instanceId))
    throw new AwsError('InvalidInstanceId', 'Instance Id is not valid');
  const inv = s.invocations.get(key(commandId, instanceId));
  if (!inv) throw invocationMissing();
  if (!seen(s.faults, inv)) throw invocationMissing();
  const plugin = str(i.PluginName);
  if (plugin !== undefined && plugin !== 'aws:runShellScript')
    throw new AwsError('InvalidPluginName', 'The plugin name is not valid.');
  return invocationView(inv, s.commands.get(inv.commandId)!);
}

function listCommandInvocations(s: SsmState, i: Input) {
  const commandId = str(i.CommandId);
  const instanceId = str(i.InstanceId);
  if (commandId !== undefined && commandId.length !== 36)
    throw validationError('commandId', `'${commandId}'`, 'Member must have length equal to 36');
  const cmds = [...s.commands.values()]
    .filter((c) => !commandId || c.id === commandId)
    .sort((a, b) => b.requested - a.requested);
  // Eventual consistency: an invocation not visible yet is missing from the list (not an error).
  const list = cmds
    .flatMap((c) =>
      c.instanceIds.filter((id) => !instanceId || id === instanceId).map((id) => s.invocations.get(key(c.id, id))!),
    )
    .filter((inv) => seen(s.faults, inv));
  const { slice, next } = page(list, i.MaxResults, i.NextToken, { min: 1, max: 50, def: 50 });
  const details = i.Details === true;
  return {
    CommandInvocations: slice.map((inv) => listEntry(s, inv, details)),
    ...(next ? { NextToken: next } : {}),
  };
}

function listCommands(s: SsmState, i: Input) {
  const commandId = str(i.CommandId);
  const instanceId = str(i.InstanceId);
  if (commandId !== undefined && commandId.length !== 36)
    throw validationError('commandId', `'${commandId}'`, 'Member must have length equal to 36');
  const list = [...s.commands.values()]
    .filter((c) => (!commandId || c.id === commandId) && (!instanceId || c.instanceIds.includes(instanceId)))
    .sort((a, b) => b.requested - a.requested);
  if (commandId && !list.length) throw invalidCommandId();
  const { slice, next } = page(list, i.MaxResults, i.NextToken, { min: 1, max: 50, def: 50 });
  return { Commands: slice.map((c) => commandView(s, c)), ...(next ? { NextToken: next } : {}) };
}

function cancelCommand(s: SsmState, i: Input) {
  const commandId = str(i.CommandId);
  const c = commandId ? s.commands.get(commandId) : undefined;
  if (!c) throw invalidCommandId();
  const ids = Array.isArray(i.InstanceIds) ? i.InstanceIds.map(String) : c.instanceIds;
  for (const id of ids) {
    const inv = s.invocations.get(key(c.id, id));
    if (!inv || TERMINAL.has(inv.status)) continue;
    inv.running?.cancel();
    finish(inv, 'Cancelled', 'Cancelled', -1);
  }
  return {};
}

// --- managed instances ----------------------------------------------------------------------------

const IGNORED_FILTER_KEYS = [
  'AgentVersion',
  'AssociationStatus',
  'IamRole',
  'ActivationIds',
  'SourceIds',
  'SourceTypes',
  'tag-key',
];

function instanceFilters(i: Input): { Key: string; Values: string[] }[] {
  if (i.Filters !== undefined && i.InstanceInformationFilterList !== undefined) {
    throw new AwsError(
      'InvalidFilterKey',
      'You can specify either Filters or InstanceInformationFilterList, but not both.',
    );
  }
  const legacy = (i.InstanceInformationFilterList ?? []) as { key?: string; valueSet?: string[] }[];
  return [
    ...((i.Filters ?? []) as { Key?: string; Values?: string[] }[]).map((f) => ({
      Key: String(f.Key),
      Values: (f.Values ?? []).map(String),
    })),
    ...legacy.map((f) => ({ Key: String(f.key), Values: (f.valueSet ?? []).map(String) })),
  ];
}

function describeInstanceInformation(host: InstanceHost, i: Input) {
  let list = host.describe();
  for (const f of instanceFilters(i)) {
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
    else if (!IGNORED_FILTER_KEYS.includes(f.Key) && !f.Key.startsWith('tag:')) {
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
}

// --- the service ----------------------------------------------------------------------------------

export function createSsm(host: InstanceHost, faults: SsmFaults) {
  const s: SsmState = { host, faults, commands: new Map(), invocations: new Map(), stopped: false };
  const ops: Record<string, (i: Input) => unknown> = {
    SendCommand: (i) => sendCommand(s, i),
    GetCommandInvocation: (i) => getCommandInvocation(s, i),
    ListCommandInvocations: (i) => listCommandInvocations(s, i),
    ListCommands: (i) => listCommands(s, i),
    CancelCommand: (i) => cancelCommand(s, i),
    DescribeInstanceInformation: (i) => describeInstanceInformation(host, i),
  };
  return {
    ops,
    /** Cancels everything still running and clears the timers (endpoint stop). */
    stop() {
      s.stopped = true;
      for (const inv of s.invocations.values()) {
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
      [...s.invocations.values()].map((v) => ({
        commandId: v.commandId,
        instanceId: v.instanceId,
        status: v.status,
        details: v.details,
        responseCode: v.responseCode,
      })),
  };
}
export type SsmService = ReturnType<typeof createSsm>;
