/**
 * The container runtime's state and the life of a container process: launch with the image's
 * command and the instance's network facts, exit and the restart policy (backoff, RestartCount),
 * stop with a grace period, manual start; plus the `inspect` and `ps` views of a container.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { humanDuration, IMAGE_PATH, nowMs, normaliseImage, rfc3339Nano, ZERO_TIME } from './docker-format.ts';
import { createNodeHosts, type HostedImage, type NodeHosts } from './node-hosts.ts';

export interface ImageTable {
  /** `command` is the image's program; `hosted`: its containers' programs run in shared host processes. */
  [image: string]: { command: string[]; hosted?: HostedImage };
}

/** One line of container output; `at` is epoch milliseconds with sub-millisecond precision. */
export interface LogLine {
  at: number;
  stream: 'stdout' | 'stderr';
  text: string;
}

/** Result of one `docker …` command line. `chunks` keeps stdout/stderr in the order they were written. */
export interface DockerResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  chunks: { stream: 'stdout' | 'stderr'; text: string }[];
}

export type RestartPolicy = { name: 'no' | 'always' | 'unless-stopped' | 'on-failure'; maxRetries: number };

export interface Container {
  id: string;
  name: string;
  image: string;
  entrypoint: string | undefined;
  args: string[];
  env: Record<string, string>;
  mounts: { host: string; container: string; readOnly: boolean }[];
  restartPolicy: RestartPolicy;
  networkMode: string;
  autoRemove: boolean;
  created: number;
  proc: ChildProcess | undefined;
  pid: number;
  running: boolean;
  restarting: boolean;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  error: string;
  restartCount: number;
  backoffMs: number;
  restartTimer: NodeJS.Timeout | undefined;
  manuallyStopped: boolean;
  logs: LogLine[];
  exitWaiters: (() => void)[];
}

export interface ContainerRuntimeOptions {
  images: ImageTable;
  /** Network facts every container process of an instance sees (TWIN_HOST_IP, TWIN_NEAR_RPC_URL, …). */
  hostEnv: (instanceId: string) => Record<string, string>;
  /** Working directory of container processes (default: the first mount's host path, else the cwd). */
  cwd?: (instanceId: string) => string;
  /** Restart backoff (Docker: 100 ms doubling up to 1 min, reset after 10 s uptime). */
  restartBackoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number };
  /** Seconds `stop` waits after SIGTERM before SIGKILL when no `-t` is given (Docker: 10). */
  defaultStopTimeoutSeconds?: number;
  /** Most log lines kept per container. */
  maxLogLines?: number;
}

/** The runtime's state, shared by the process life cycle and the docker commands. */
export interface Runtime {
  opts: ContainerRuntimeOptions;
  byInstance: Map<string, Map<string, Container>>;
  images: Map<string, ImageTable[string]>;
  /** Host processes of each hosted image, started with its first container. */
  hosts: Map<string, NodeHosts>;
  backoff: { initialMs: number; maxMs: number; resetAfterMs: number };
  defaultStopTimeout: number;
  maxLogLines: number;
  shuttingDown: boolean;
}

export function createRuntimeState(opts: ContainerRuntimeOptions): Runtime {
  return {
    opts,
    byInstance: new Map(),
    images: new Map(Object.entries(opts.images).map(([k, v]) => [normaliseImage(k), v])),
    hosts: new Map(),
    backoff: { initialMs: 100, maxMs: 2000, resetAfterMs: 10_000, ...opts.restartBackoff },
    defaultStopTimeout: opts.defaultStopTimeoutSeconds ?? 10,
    maxLogLines: opts.maxLogLines ?? 20_000,
    shuttingDown: false,
  };
}

export const containers = (rt: Runtime, instanceId: string) => {
  let m = rt.byInstance.get(instanceId);
  if (!m) {
    m = new Map();
    rt.byInstance.set(instanceId, m);
  }
  return m;
};

export function find(rt: Runtime, instanceId: string, ref: string): Container | undefined {
  const all = containers(rt, instanceId);
  const byName = all.get(ref.replace(/^\//, ''));
  if (byName) return byName;
  if (!/^[0-9a-f]+$/.test(ref)) return undefined;
  const byId = [...all.values()].filter((c) => c.id.startsWith(ref));
  return byId.length === 1 ? byId[0] : undefined;
}

export const hostPath = (c: Container, v: string) => {
  const m = c.mounts.find((x) => v === x.container || v.startsWith(`${x.container}/`));
  return m ? m.host + v.slice(m.container.length) : v;
};

function pushLog(rt: Runtime, c: Container, stream: LogLine['stream'], text: string) {
  c.logs.push({ at: nowMs(), stream, text });
  if (c.logs.length > rt.maxLogLines) c.logs.splice(0, c.logs.length - rt.maxLogLines);
}

export function launch(rt: Runtime, instanceId: string, c: Container) {
  const image = rt.images.get(normaliseImage(c.image))!;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? IMAGE_PATH,
    HOSTNAME:
      c.networkMode === 'host'
        ? `ip-${(rt.opts.hostEnv(instanceId).TWIN_HOST_IP ?? '127.0.0.1').replace(/\./g, '-')}`
        : c.id.slice(0, 12),
    HOME: '/root',
    ...rt.opts.hostEnv(instanceId),
  };
  for (const [k, v] of Object.entries(c.env)) env[k] = hostPath(c, v);
  const args = c.args.map((a) => hostPath(c, a));
  const argv = [...image.command, ...args];
  const cwd = rt.opts.cwd?.(instanceId) ?? c.mounts[0]?.host ?? process.cwd();
  c.running = true;
  c.restarting = false;
  c.startedAt = nowMs();
  c.error = '';
  if (image.hosted) return launchHosted(rt, instanceId, c, image.hosted, { args, env, cwd });
  let proc: ChildProcess;
  try {
    proc = spawn(argv[0]!, argv.slice(1), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    onExit(rt, instanceId, c, undefined, 127, null, (e as Error).message);
    return;
  }
  c.proc = proc;
  c.pid = proc.pid ?? 0;
  const capture = (stream: LogLine['stream']) => {
    let partial = '';
    proc[stream]!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const text of lines) pushLog(rt, c, stream, text);
    });
    proc[stream]!.on('end', () => {
      if (partial) pushLog(rt, c, stream, partial);
      partial = '';
    });
  };
  capture('stdout');
  capture('stderr');
  proc.on('error', (e) => onExit(rt, instanceId, c, proc, 127, null, e.message));
  // The container ends with its main process; wait briefly for its output pipes to drain.
  proc.on('exit', (code, signal) => setTimeout(() => onExit(rt, instanceId, c, proc, code, signal, ''), 200).unref());
  proc.on('close', (code, signal) => onExit(rt, instanceId, c, proc, code, signal, ''));
}

/** Lines of output as the runtime stores them: split at newlines, a partial line kept until it ends. */
function lineSink(rt: Runtime, c: Container) {
  const partial = { stdout: '', stderr: '' };
  return {
    write(stream: LogLine['stream'], text: string) {
      const lines = (partial[stream] + text).split('\n');
      partial[stream] = lines.pop()!;
      for (const line of lines) pushLog(rt, c, stream, line);
    },
    flush() {
      for (const stream of ['stdout', 'stderr'] as const) if (partial[stream]) pushLog(rt, c, stream, partial[stream]);
      partial.stdout = partial.stderr = '';
    },
  };
}

/** The host processes of a hosted image (created with the runtime, so the first can start early). */
export function hostsOf(rt: Runtime, image: string, hosted: HostedImage): NodeHosts {
  const key = normaliseImage(image);
  let hosts = rt.hosts.get(key);
  if (!hosts) {
    hosts = createNodeHosts(hosted);
    rt.hosts.set(key, hosts);
  }
  return hosts;
}

/** A container of a hosted image: its process is a shim, its program a node in a host (node-hosts.ts). */
function launchHosted(
  rt: Runtime,
  instanceId: string,
  c: Container,
  image: HostedImage,
  o: { args: string[]; env: Record<string, string>; cwd: string },
) {
  const hosts = hostsOf(rt, c.image, image);
  const proc = hosts.spawnShim(o.env, o.cwd);
  c.proc = proc;
  c.pid = proc.pid ?? 0;
  const sink = lineSink(rt, c);
  const node = hosts.start(`${c.id}/${c.pid}/${nowMs()}`, o.args, o.env, {
    out: (stream, text) => sink.write(stream, text),
    exit: (code) => proc.stdin!.write(`${code}\n`),
  });
  const exited = (code: number | null, signal: NodeJS.Signals | null, error: string) => {
    // SIGTERM reaches the shim's trap (exit 0): the node's own shutdown. Anything else kills it.
    void node.end(code === 0 && signal === null).then(() => {
      sink.flush();
      onExit(rt, instanceId, c, proc, code, signal, error);
    });
  };
  proc.on('error', (e) => exited(127, null, e.message));
  proc.on('exit', (code, signal) => exited(code, signal, ''));
}

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGTERM: 15,
};

function onExit(
  rt: Runtime,
  instanceId: string,
  c: Container,
  proc: ChildProcess | undefined,
  code: number | null,
  signal: NodeJS.Signals | null,
  error: string,
) {
  if (proc && c.proc !== proc) return;
  if (!c.running) return;
  const ranMs = nowMs() - c.startedAt;
  c.proc = undefined;
  c.running = false;
  c.pid = 0;
  c.finishedAt = nowMs();
  c.exitCode = code ?? (signal ? 128 + (SIGNAL_NUMBERS[signal] ?? 15) : 0);
  c.error = error;
  const waiters = c.exitWaiters.splice(0);
  const p = c.restartPolicy;
  const again =
    !rt.shuttingDown &&
    !c.manuallyStopped &&
    containers(rt, instanceId).get(c.name) === c &&
    (p.name === 'always' ||
      p.name === 'unless-stopped' ||
      (p.name === 'on-failure' && c.exitCode !== 0 && (p.maxRetries === 0 || c.restartCount < p.maxRetries)));
  if (again) {
    if (ranMs >= rt.backoff.resetAfterMs) c.backoffMs = 0;
    c.backoffMs = c.backoffMs ? Math.min(rt.backoff.maxMs, c.backoffMs * 2) : rt.backoff.initialMs;
    c.restarting = true;
    c.restartTimer = setTimeout(() => {
      c.restartTimer = undefined;
      if (!c.restarting || containers(rt, instanceId).get(c.name) !== c) return;
      c.restartCount++;
      launch(rt, instanceId, c);
    }, c.backoffMs);
    c.restartTimer.unref();
  } else if (c.autoRemove && containers(rt, instanceId).get(c.name) === c) {
    containers(rt, instanceId).delete(c.name);
  }
  for (const w of waiters) w();
}

export const waitExit = (c: Container) => new Promise<void>((ok) => (c.running ? c.exitWaiters.push(ok) : ok()));

/** Stop the process (SIGTERM, SIGKILL after timeoutSeconds) and cancel any pending restart. */
export async function stopProc(c: Container, timeoutSeconds: number, signal: NodeJS.Signals = 'SIGTERM') {
  c.manuallyStopped = true;
  c.restarting = false;
  if (c.restartTimer) clearTimeout(c.restartTimer);
  c.restartTimer = undefined;
  const p = c.proc;
  if (!p || !c.running) return;
  const exited = waitExit(c);
  const kill = setTimeout(() => p.kill('SIGKILL'), Math.max(0, timeoutSeconds) * 1000);
  p.kill(signal);
  await exited;
  clearTimeout(kill);
}

export function manualStart(rt: Runtime, instanceId: string, c: Container) {
  // moby containerStart(resetRestartManager=true): RestartCount = 0, backoff and manual-stop reset.
  if (c.restartTimer) clearTimeout(c.restartTimer);
  c.restartTimer = undefined;
  c.restartCount = 0;
  c.backoffMs = 0;
  c.manuallyStopped = false;
  launch(rt, instanceId, c);
}

export const command = (c: Container) => [c.entrypoint ?? '/app/start.sh', ...c.args].join(' ');
export const state = (c: Container) =>
  c.running ? 'running' : c.restarting ? 'restarting' : c.finishedAt ? 'exited' : 'created';
export const status = (c: Container) =>
  c.running
    ? `Up ${humanDuration(nowMs() - c.startedAt)}`
    : c.restarting
      ? `Restarting (${c.exitCode}) ${humanDuration(nowMs() - c.finishedAt)} ago`
      : c.finishedAt
        ? `Exited (${c.exitCode}) ${humanDuration(nowMs() - c.finishedAt)} ago`
        : 'Created';
const iso = (ms: number) => (ms ? rfc3339Nano(ms) : ZERO_TIME);

export function inspectView(c: Container) {
  return {
    Id: c.id,
    Created: rfc3339Nano(c.created),
    Path: c.entrypoint ?? '/app/start.sh',
    Args: c.args,
    State: {
      Status: state(c),
      Running: c.running,
      Paused: false,
      Restarting: c.restarting,
      OOMKilled: false,
      Dead: false,
      Pid: c.running ? c.pid : 0,
      ExitCode: c.exitCode,
      Error: c.error,
      StartedAt: iso(c.startedAt),
      FinishedAt: iso(c.finishedAt),
    },
    Image: `sha256:${Buffer.from(normaliseImage(c.image)).toString('hex').padEnd(64, '0').slice(0, 64)}`,
    Name: `/${c.name}`,
    RestartCount: c.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    HostConfig: {
      Binds: c.mounts.map((m) => `${m.host}:${m.container}${m.readOnly ? ':ro' : ''}`),
      NetworkMode: c.networkMode,
      RestartPolicy: { Name: c.restartPolicy.name, MaximumRetryCount: c.restartPolicy.maxRetries },
      AutoRemove: c.autoRemove,
    },
    Mounts: c.mounts.map((m) => ({
      Type: 'bind',
      Source: m.host,
      Destination: m.container,
      Mode: m.readOnly ? 'ro' : '',
      RW: !m.readOnly,
      Propagation: 'rprivate',
    })),
    Config: {
      Hostname: c.id.slice(0, 12),
      Env: [...Object.entries(c.env).map(([k, v]) => `${k}=${v}`), `PATH=${IMAGE_PATH}`],
      Cmd: c.args,
      Image: c.image,
      Entrypoint: c.entrypoint ? [c.entrypoint] : null,
      Labels: {},
    },
    NetworkSettings: { Networks: { [c.networkMode]: {} } },
  };
}

export function psRow(c: Container, noTrunc: boolean) {
  const cmd = JSON.stringify(command(c));
  return {
    ID: noTrunc ? c.id : c.id.slice(0, 12),
    Image: c.image,
    Command: noTrunc || cmd.length <= 22 ? cmd : `${cmd.slice(0, 20)}…"`,
    CreatedAt: new Date(c.created)
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ' +0000 UTC'),
    RunningFor: `${humanDuration(nowMs() - c.created)} ago`,
    Ports: '',
    State: state(c),
    Status: status(c),
    Size: '0B',
    Names: c.name,
    Labels: '',
    Mounts: c.mounts.map((m) => m.host).join(','),
    Networks: c.networkMode,
  };
}
