/**
 * The twin's container runtime ("dockerd"): per instance, containers whose process is a real OS
 * process started from an image table. What it keeps of Docker is what the runbook and operators
 * observe:
 *  - `run` creates a fresh container (name, image, env, `-v host:container` mounts, restart policy,
 *    network mode, entrypoint + args) and starts its process;
 *  - `restart`/`stop`/`start` keep env and mounts; every start is a new process (new pid) and a
 *    manual start/restart resets RestartCount to 0 (moby `ResetRestartManager(true)`);
 *  - `--restart=always|unless-stopped|on-failure[:N]` restarts an exited process with backoff
 *    (100 ms doubling, reset after 10 s of uptime; the cap is shorter than Docker's 1 min so twin
 *    crash loops stay visible quickly): RestartCount rises and `ps` shows `Restarting (code) …`;
 *  - stdout/stderr lines are stored per container with timestamps (`logs --since/--until/--tail/-t`);
 *  - `ps` / `inspect` with Go-template `--format` (fields, `json`, `range`, `if`, `index`, `println`,
 *    `table`), real CLI error texts and exit codes (1 daemon errors, 125 `run` errors).
 * Paths in env and args that lie under a mount target (e.g. `MPC_HOME_DIR=/data`) are rewritten to
 * the host path, since the twin cannot use /data. Each process also gets the instance's network facts
 * (`TWIN_HOST_IP`, and the fleet's extra env such as `TWIN_NEAR_RPC_URL`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { isAbsolute } from 'node:path';

export interface ImageTable {
  [image: string]: { command: string[] };
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

type RestartPolicy = { name: 'no' | 'always' | 'unless-stopped' | 'on-failure'; maxRetries: number };

interface Container {
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

const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const ZERO_TIME = '0001-01-01T00:00:00Z';
const ADJECTIVES = ['brave', 'calm', 'eager', 'gifted', 'jolly', 'keen', 'lucid', 'nifty', 'quirky', 'vivid'];
const NAMES = ['bohr', 'curie', 'euler', 'gauss', 'hopper', 'lovelace', 'noether', 'turing', 'wiles', 'yonath'];

/** Epoch ms with microsecond precision (Date.now() alone puts many log lines on the same ms). */
const nowMs = () => performance.timeOrigin + performance.now();

/** RFC3339Nano as Docker prints it (`2024-01-02T03:04:05.123456789Z`). */
export function rfc3339Nano(ms: number): string {
  const whole = Math.floor(ms);
  const iso = new Date(whole).toISOString(); // …ss.mmmZ
  const micro = Math.floor((ms - whole) * 1000);
  return `${iso.slice(0, 23)}${String(micro).padStart(3, '0')}000Z`;
}

/** go-units HumanDuration, as used by `docker ps` (Up …, Exited (0) … ago). */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(seconds / 3600);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 14) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 60) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

const GO_DURATION = /^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Docker's `--since`/`--until`: Go duration relative to now (10m, 1h30m), unix seconds, or a timestamp. */
export function parseDockerTime(v: string, flag: string, now = Date.now()): number {
  if (GO_DURATION.test(v)) {
    let total = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
    return now - total;
  }
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v); // without a zone: local time, as Docker
  if (Number.isNaN(t))
    throw new DockerError(`invalid value for "${flag}": failed to parse value as time or duration: "${v}"`, 1);
  // Keep sub-millisecond digits of RFC3339Nano timestamps.
  const frac = /\.(\d{4,9})/.exec(v)?.[1];
  return frac ? Math.floor(t) + Number(`0.${frac.slice(3)}`) : t;
}

class DockerError extends Error {
  code: number;
  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}

// ------------------------------------------------------------------------------------------------
// A small Go text/template subset: {{.A.B}}, {{.}}, {{json X}}, {{println X…}}, {{print X…}},
// {{index X "k"}}, {{len X}}, {{upper X}}/{{lower X}}, {{range X}}…{{end}}, {{if X}}…{{else}}…{{end}},
// string literals, trim markers {{- -}}.

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; expr: string; pos: number }
  | { kind: 'range'; expr: string; pos: number; body: Node[] }
  | { kind: 'if'; expr: string; pos: number; body: Node[]; orElse: Node[] };

function parseTemplate(src: string): Node[] {
  const tokens: ({ t: 'text'; v: string } | { t: 'act'; v: string; pos: number })[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      tokens.push({ t: 'text', v: src.slice(i) });
      break;
    }
    const close = src.indexOf('}}', open + 2);
    if (close < 0) throw new DockerError(`template parsing error: template: :1: unclosed action`, 1);
    let text = src.slice(i, open);
    let body = src.slice(open + 2, close);
    if (body.startsWith('-')) {
      text = text.replace(/\s+$/, '');
      body = body.slice(1);
    }
    let trimNext = false;
    if (body.endsWith('-')) {
      body = body.slice(0, -1);
      trimNext = true;
    }
    if (text) tokens.push({ t: 'text', v: text });
    tokens.push({ t: 'act', v: body.trim(), pos: open });
    i = close + 2;
    if (trimNext) while (i < src.length && /\s/.test(src[i]!)) i++;
  }
  let k = 0;
  const block = (stopAt: string[]): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = [];
    while (k < tokens.length) {
      const tok = tokens[k++]!;
      if (tok.t === 'text') {
        nodes.push({ kind: 'text', text: tok.v });
        continue;
      }
      const word = tok.v.split(/\s+/)[0]!;
      if (stopAt.includes(word)) return { nodes, stop: word };
      if (word === 'range') {
        const body = block(['end']);
        nodes.push({ kind: 'range', expr: tok.v.slice(5).trim(), pos: tok.pos, body: body.nodes });
      } else if (word === 'if') {
        const then = block(['else', 'end']);
        const els = then.stop === 'else' ? block(['end']).nodes : [];
        nodes.push({ kind: 'if', expr: tok.v.slice(2).trim(), pos: tok.pos, body: then.nodes, orElse: els });
      } else if (word === 'end' || word === 'else') {
        throw new DockerError(`template parsing error: template: :1: unexpected {{${word}}}`, 1);
      } else nodes.push({ kind: 'action', expr: tok.v, pos: tok.pos });
    }
    if (stopAt.length) throw new DockerError('template parsing error: template: :1: unexpected EOF', 1);
    return { nodes, stop: '' };
  };
  return block([]).nodes;
}

/** Go's default formatting of a value (fmt %v). */
function goString(v: unknown): string {
  if (v === undefined || v === null) return '<no value>';
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (typeof v === 'object') {
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${goString((v as Record<string, unknown>)[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

const truthy = (v: unknown) =>
  !(v === undefined || v === null || v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0));

function evalTemplate(nodes: Node[], data: unknown): string {
  const field = (dot: unknown, path: string, pos: number): unknown => {
    if (path === '.') return dot;
    let cur = dot;
    for (const key of path.slice(1).split('.')) {
      if (cur && typeof cur === 'object' && !Array.isArray(cur) && key in (cur as object))
        cur = (cur as Record<string, unknown>)[key];
      else if (cur && typeof cur === 'object' && (cur as { __map?: boolean }).__map) cur = undefined;
      else throw new DockerError(`template: :1:${pos + 2}: executing "" at <${path}>: can't evaluate field ${key}`, 1);
    }
    return cur;
  };
  const args = (expr: string): string[] => expr.match(/"(?:[^"\\]|\\.)*"|`[^`]*`|\S+/g) ?? [];
  const value = (tok: string, dot: unknown, pos: number): unknown => {
    if (tok.startsWith('"')) return JSON.parse(tok) as string;
    if (tok.startsWith('`')) return tok.slice(1, -1);
    if (/^-?\d+$/.test(tok)) return Number(tok);
    if (tok === 'true' || tok === 'false') return tok === 'true';
    if (tok.startsWith('.')) return field(dot, tok, pos);
    throw new DockerError(`template parsing error: template: :1: function "${tok}" not defined`, 1);
  };
  const evalExpr = (expr: string, dot: unknown, pos: number): unknown => {
    const [fn, ...rest] = args(expr);
    if (fn === undefined) throw new DockerError('template parsing error: template: :1: missing value for command', 1);
    const vals = () => rest.map((a) => value(a, dot, pos));
    switch (fn) {
      case 'json':
        return JSON.stringify(vals()[0] ?? null);
      case 'println':
        return `${vals().map(goString).join(' ')}\n`;
      case 'print':
        return vals().map(goString).join('');
      case 'printf': {
        const [f, ...xs] = vals();
        let n = 0;
        return String(f).replace(/%[svdq]/g, (m) =>
          m === '%q' ? JSON.stringify(goString(xs[n++])) : goString(xs[n++]),
        );
      }
      case 'index': {
        const [o, ...ks] = vals();
        return ks.reduce<unknown>(
          (c, k) => (c && typeof c === 'object' ? (c as Record<string, unknown>)[String(k)] : undefined),
          o,
        );
      }
      case 'len': {
        const v = vals()[0];
        return Array.isArray(v) || typeof v === 'string'
          ? v.length
          : v && typeof v === 'object'
            ? Object.keys(v).length
            : 0;
      }
      case 'upper':
        return String(vals()[0]).toUpperCase();
      case 'lower':
        return String(vals()[0]).toLowerCase();
      case 'eq': {
        const [a, ...bs] = vals();
        return bs.some((b) => b === a);
      }
      case 'ne': {
        const [a, b] = vals();
        return a !== b;
      }
      case 'not':
        return !truthy(vals()[0]);
      case 'and':
        return vals().every(truthy);
      case 'or':
        return vals().some(truthy);
      default:
        if (rest.length) throw new DockerError(`template parsing error: template: :1: function "${fn}" not defined`, 1);
        return value(fn, dot, pos);
    }
  };
  const run = (ns: Node[], dot: unknown): string =>
    ns
      .map((n) => {
        if (n.kind === 'text') return n.text;
        if (n.kind === 'action') {
          const v = evalExpr(n.expr, dot, n.pos);
          return typeof v === 'string' ? v : goString(v);
        }
        if (n.kind === 'if') return truthy(evalExpr(n.expr, dot, n.pos)) ? run(n.body, dot) : run(n.orElse, dot);
        const over = evalExpr(n.expr, dot, n.pos);
        const items = Array.isArray(over) ? over : over && typeof over === 'object' ? Object.values(over) : [];
        return items.map((it) => run(n.body, it)).join('');
      })
      .join('');
  return run(nodes, data);
}

/** Docker CLI formatting: `\t`/`\n` escapes are honoured. */
function renderTemplate(template: string, data: unknown): string {
  return evalTemplate(parseTemplate(template.replace(/\\t/g, '\t').replace(/\\n/g, '\n')), data);
}

/** Go tabwriter as the docker CLI configures it (minwidth 10, padding 3). */
function tabulate(lines: string[]): string {
  const rows = lines.map((l) => l.split('\t'));
  const widths: number[] = [];
  for (const r of rows)
    r.slice(0, -1).forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i < r.length - 1 ? cell.padEnd(Math.max(10, (widths[i] ?? 0) + 3)) : cell))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

const PS_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Names: 'NAMES',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
};

/** Docker's reference normalisation for lookups in the image table (docker.io/ prefix, :latest default). */
function normaliseImage(ref: string): string {
  let r = ref.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '').replace(/^library\//, '');
  if (!/:[^/]+$/.test(r) && !r.includes('@')) r += ':latest';
  return r;
}

export function createContainerRuntime(opts: ContainerRuntimeOptions) {
  const byInstance = new Map<string, Map<string, Container>>();
  const images = new Map(Object.entries(opts.images).map(([k, v]) => [normaliseImage(k), v]));
  const backoff = { initialMs: 100, maxMs: 2000, resetAfterMs: 10_000, ...opts.restartBackoff };
  const defaultStopTimeout = opts.defaultStopTimeoutSeconds ?? 10;
  const maxLogLines = opts.maxLogLines ?? 20_000;
  let shuttingDown = false;

  const containers = (instanceId: string) => {
    let m = byInstance.get(instanceId);
    if (!m) {
      m = new Map();
      byInstance.set(instanceId, m);
    }
    return m;
  };

  function find(instanceId: string, ref: string): Container | undefined {
    const all = containers(instanceId);
    const byName = all.get(ref.replace(/^\//, ''));
    if (byName) return byName;
    if (!/^[0-9a-f]+$/.test(ref)) return undefined;
    const byId = [...all.values()].filter((c) => c.id.startsWith(ref));
    return byId.length === 1 ? byId[0] : undefined;
  }

  const hostPath = (c: Container, v: string) => {
    const m = c.mounts.find((x) => v === x.container || v.startsWith(`${x.container}/`));
    return m ? m.host + v.slice(m.container.length) : v;
  };

  function pushLog(c: Container, stream: LogLine['stream'], text: string) {
    c.logs.push({ at: nowMs(), stream, text });
    if (c.logs.length > maxLogLines) c.logs.splice(0, c.logs.length - maxLogLines);
  }

  function launch(instanceId: string, c: Container) {
    const image = images.get(normaliseImage(c.image))!;
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? IMAGE_PATH,
      HOSTNAME:
        c.networkMode === 'host'
          ? `ip-${(opts.hostEnv(instanceId).TWIN_HOST_IP ?? '127.0.0.1').replace(/\./g, '-')}`
          : c.id.slice(0, 12),
      HOME: '/root',
      ...opts.hostEnv(instanceId),
    };
    for (const [k, v] of Object.entries(c.env)) env[k] = hostPath(c, v);
    const argv = [...image.command, ...c.args.map((a) => hostPath(c, a))];
    const cwd = opts.cwd?.(instanceId) ?? c.mounts[0]?.host ?? process.cwd();
    c.running = true;
    c.restarting = false;
    c.startedAt = nowMs();
    c.error = '';
    let proc: ChildProcess;
    try {
      proc = spawn(argv[0]!, argv.slice(1), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      onExit(instanceId, c, undefined, 127, null, (e as Error).message);
      return;
    }
    c.proc = proc;
    c.pid = proc.pid ?? 0;
    const capture = (stream: LogLine['stream']) => {
      let partial = '';
      proc[stream]!.on('data', (d: Buffer) => {
        const lines = (partial + d.toString('utf8')).split('\n');
        partial = lines.pop()!;
        for (const text of lines) pushLog(c, stream, text);
      });
      proc[stream]!.on('end', () => {
        if (partial) pushLog(c, stream, partial);
        partial = '';
      });
    };
    capture('stdout');
    capture('stderr');
    proc.on('error', (e) => onExit(instanceId, c, proc, 127, null, e.message));
    // The container ends with its main process; wait briefly for its output pipes to drain.
    proc.on('exit', (code, signal) => setTimeout(() => onExit(instanceId, c, proc, code, signal, ''), 200).unref());
    proc.on('close', (code, signal) => onExit(instanceId, c, proc, code, signal, ''));
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
      !shuttingDown &&
      !c.manuallyStopped &&
      containers(instanceId).get(c.name) === c &&
      (p.name === 'always' ||
        p.name === 'unless-stopped' ||
        (p.name === 'on-failure' && c.exitCode !== 0 && (p.maxRetries === 0 || c.restartCount < p.maxRetries)));
    if (again) {
      if (ranMs >= backoff.resetAfterMs) c.backoffMs = 0;
      c.backoffMs = c.backoffMs ? Math.min(backoff.maxMs, c.backoffMs * 2) : backoff.initialMs;
      c.restarting = true;
      c.restartTimer = setTimeout(() => {
        c.restartTimer = undefined;
        if (!c.restarting || containers(instanceId).get(c.name) !== c) return;
        c.restartCount++;
        launch(instanceId, c);
      }, c.backoffMs);
      c.restartTimer.unref();
    } else if (c.autoRemove && containers(instanceId).get(c.name) === c) {
      containers(instanceId).delete(c.name);
    }
    for (const w of waiters) w();
  }

  const waitExit = (c: Container) => new Promise<void>((ok) => (c.running ? c.exitWaiters.push(ok) : ok()));

  /** Stop the process (SIGTERM, SIGKILL after timeoutSeconds) and cancel any pending restart. */
  async function stopProc(c: Container, timeoutSeconds: number, signal: NodeJS.Signals = 'SIGTERM') {
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

  function manualStart(instanceId: string, c: Container) {
    // moby containerStart(resetRestartManager=true): RestartCount = 0, backoff and manual-stop reset.
    if (c.restartTimer) clearTimeout(c.restartTimer);
    c.restartTimer = undefined;
    c.restartCount = 0;
    c.backoffMs = 0;
    c.manuallyStopped = false;
    launch(instanceId, c);
  }

  const command = (c: Container) => [c.entrypoint ?? '/app/start.sh', ...c.args].join(' ');
  const state = (c: Container) =>
    c.running ? 'running' : c.restarting ? 'restarting' : c.finishedAt ? 'exited' : 'created';
  const status = (c: Container) =>
    c.running
      ? `Up ${humanDuration(nowMs() - c.startedAt)}`
      : c.restarting
        ? `Restarting (${c.exitCode}) ${humanDuration(nowMs() - c.finishedAt)} ago`
        : c.finishedAt
          ? `Exited (${c.exitCode}) ${humanDuration(nowMs() - c.finishedAt)} ago`
          : 'Created';
  const iso = (ms: number) => (ms ? rfc3339Nano(ms) : ZERO_TIME);

  function inspectView(c: Container) {
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

  function psRow(c: Container, noTrunc: boolean) {
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

  // ----------------------------------------------------------------------------------------------
  // `docker` command lines

  interface Out {
    chunks: DockerResult['chunks'];
  }
  const say = (o: Out, text: string) => text && o.chunks.push({ stream: 'stdout', text });
  const err = (o: Out, text: string) => text && o.chunks.push({ stream: 'stderr', text });

  /** Parse `docker run` options; returns the container spec or throws DockerError. */
  function parseRun(rest: string[], callerEnv: Record<string, string>) {
    const spec = {
      name: undefined as string | undefined,
      env: {} as Record<string, string>,
      mounts: [] as Container['mounts'],
      restartPolicy: { name: 'no', maxRetries: 0 } as RestartPolicy,
      networkMode: 'bridge',
      entrypoint: undefined as string | undefined,
      detach: false,
      autoRemove: false,
      image: '',
      args: [] as string[],
    };
    const withValue = new Set([
      '--name',
      '--restart',
      '--net',
      '--network',
      '-v',
      '--volume',
      '-e',
      '--env',
      '--entrypoint',
      '-p',
      '--publish',
      '-w',
      '--workdir',
      '-u',
      '--user',
      '--log-driver',
      '--log-opt',
      '--label',
      '-l',
      '--hostname',
      '-h',
      '--memory',
      '-m',
      '--cpus',
      '--pull',
      '--platform',
      '--add-host',
      '--stop-timeout',
      '--env-file',
    ]);
    const boolFlags = new Set([
      '-d',
      '--detach',
      '--rm',
      '-i',
      '--interactive',
      '-t',
      '--tty',
      '-it',
      '-dit',
      '-itd',
      '--init',
      '--privileged',
      '--read-only',
    ]);
    let i = 0;
    for (; i < rest.length; i++) {
      const a = rest[i]!;
      if (!a.startsWith('-') || a === '-') break;
      if (a === '--') {
        i++;
        break;
      }
      const eq = a.indexOf('=');
      const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
      let v: string | undefined;
      if (boolFlags.has(flag)) {
        if (flag.includes('d'))
          spec.detach = spec.detach || flag === '-d' || flag === '--detach' || /^-[it]*d[it]*$/.test(flag);
        if (flag === '--rm') spec.autoRemove = true;
        continue;
      }
      if (!withValue.has(flag)) {
        // Clustered short flags like -de are rare; report as docker does.
        throw new DockerError(`unknown flag: ${flag}\nSee 'docker run --help'.`, 125);
      }
      if (a.startsWith('--') && eq > 0) v = a.slice(eq + 1);
      else {
        v = rest[++i];
        if (v === undefined)
          throw new DockerError(
            `flag needs an argument: '${flag.replace(/^-+/, '')}' in ${flag}\nSee 'docker run --help'.`,
            125,
          );
      }
      switch (flag) {
        case '--name':
          if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(v))
            throw new DockerError(
              `docker: Error response from daemon: Invalid container name (${v}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed.\nSee 'docker run --help'.`,
              125,
            );
          spec.name = v;
          break;
        case '--restart': {
          const [name, max] = v.split(':');
          if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(name!))
            throw new DockerError(`docker: invalid restart policy format: ${v}\nSee 'docker run --help'.`, 125);
          spec.restartPolicy = { name: name as RestartPolicy['name'], maxRetries: Number(max ?? 0) || 0 };
          break;
        }
        case '--net':
        case '--network':
          spec.networkMode = v;
          break;
        case '-v':
        case '--volume': {
          const [host, container, mode] = v.split(':');
          if (!host || !container || !isAbsolute(container))
            throw new DockerError(
              `docker: Error response from daemon: invalid volume specification: '${v}'.\nSee 'docker run --help'.`,
              125,
            );
          if (!isAbsolute(host))
            throw new DockerError(
              `docker: Error response from daemon: create ${host}: "${host}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path.\nSee 'docker run --help'.`,
              125,
            );
          spec.mounts.push({
            host,
            container: container.replace(/\/+$/, '') || '/',
            readOnly: (mode ?? '').split(',').includes('ro'),
          });
          break;
        }
        case '-e':
        case '--env': {
          const k = v.indexOf('=');
          if (k > 0) spec.env[v.slice(0, k)] = v.slice(k + 1);
          else if (callerEnv[v] !== undefined) spec.env[v] = callerEnv[v]!;
          break;
        }
        case '--entrypoint':
          spec.entrypoint = v;
          break;
        default:
          break; // accepted, without effect in the twin
      }
    }
    if (spec.autoRemove && spec.restartPolicy.name !== 'no')
      throw new DockerError("docker: Conflicting options: --restart and --rm.\nSee 'docker run --help'.", 125);
    spec.image = rest[i] ?? '';
    spec.args = rest.slice(i + 1);
    if (!spec.image)
      throw new DockerError(
        `docker: 'docker run' requires at least 1 argument\n\nUsage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nSee 'docker run --help' for more information`,
        1,
      );
    return spec;
  }

  async function cmdRun(
    instanceId: string,
    rest: string[],
    callerEnv: Record<string, string>,
    o: Out,
  ): Promise<number> {
    const spec = parseRun(rest, callerEnv);
    const image = normaliseImage(spec.image);
    if (!images.has(image)) {
      err(o, `Unable to find image '${image}' locally\n`);
      throw new DockerError(
        `docker: Error response from daemon: pull access denied for ${image.replace(/:[^:/]+$/, '')}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied.\n\nRun 'docker run --help' for more information`,
        125,
      );
    }
    const all = containers(instanceId);
    let name = spec.name;
    while (!name || (!spec.name && all.has(name)))
      name = `${ADJECTIVES[randomBytes(1)[0]! % 10]}_${NAMES[randomBytes(1)[0]! % 10]}${randomBytes(1)[0]! % 10}`;
    const id = randomBytes(32).toString('hex');
    const other = all.get(name);
    if (other) {
      throw new DockerError(
        `docker: Error response from daemon: Conflict. The container name "/${name}" is already in use by container "${other.id}". You have to remove (or rename) that container to be able to reuse that name.\n\nRun 'docker run --help' for more information`,
        125,
      );
    }
    for (const m of spec.mounts) mkdirSync(m.host, { recursive: true }); // bind sources are created, as Docker does
    const c: Container = {
      id,
      name,
      image: spec.image,
      entrypoint: spec.entrypoint,
      args: spec.args,
      env: spec.env,
      mounts: spec.mounts,
      restartPolicy: spec.restartPolicy,
      networkMode: spec.networkMode,
      autoRemove: spec.autoRemove,
      created: nowMs(),
      proc: undefined,
      pid: 0,
      running: false,
      restarting: false,
      startedAt: 0,
      finishedAt: 0,
      exitCode: 0,
      error: '',
      restartCount: 0,
      backoffMs: 0,
      restartTimer: undefined,
      manuallyStopped: false,
      logs: [],
      exitWaiters: [],
    };
    all.set(name, c);
    launch(instanceId, c);
    if (spec.detach) {
      say(o, `${id}\n`);
      return 0;
    }
    // Attached: wait for the process, then hand back its output in order (the twin has no tty streaming).
    await waitExit(c);
    for (const l of c.logs) (l.stream === 'stdout' ? say : err)(o, `${l.text}\n`);
    if (c.error)
      throw new DockerError(
        `docker: Error response from daemon: failed to create task for container: ${c.error}\n\nRun 'docker run --help' for more information`,
        127,
      );
    return c.exitCode;
  }

  function cmdPs(instanceId: string, rest: string[], o: Out): number {
    let all = false;
    let quiet = false;
    let noTrunc = false;
    let format: string | undefined;
    const filters: [string, string][] = [];
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i]!;
      if (a === '-a' || a === '--all') all = true;
      else if (a === '-q' || a === '--quiet') quiet = true;
      else if (a === '-aq' || a === '-qa') all = quiet = true;
      else if (a === '--no-trunc') noTrunc = true;
      else if (a === '--filter' || a === '-f') filters.push(split(rest[++i] ?? ''));
      else if (a.startsWith('--filter=')) filters.push(split(a.slice(9)));
      else if (a === '--format') format = rest[++i];
      else if (a.startsWith('--format=')) format = a.slice(9);
      else throw new DockerError(`unknown flag: ${a}\nSee 'docker ps --help'.`, 125);
    }
    function split(f: string): [string, string] {
      const k = f.indexOf('=');
      if (k <= 0) throw new DockerError(`Error response from daemon: invalid filter '${f}'`, 1);
      return [f.slice(0, k), f.slice(k + 1)];
    }
    let list = [...containers(instanceId).values()].sort((a, b) => b.created - a.created);
    if (!all && !filters.some(([k]) => k === 'status')) list = list.filter((c) => c.running || c.restarting);
    const byKey = new Map<string, string[]>();
    for (const [k, v] of filters) byKey.set(k, [...(byKey.get(k) ?? []), v]);
    for (const [k, vs] of byKey) {
      if (k === 'name') list = list.filter((c) => vs.some((v) => new RegExp(v).test(`/${c.name}`)));
      else if (k === 'id') list = list.filter((c) => vs.some((v) => c.id.startsWith(v)));
      else if (k === 'status') list = list.filter((c) => vs.includes(state(c)));
      else if (k === 'ancestor')
        list = list.filter((c) => vs.some((v) => normaliseImage(v) === normaliseImage(c.image)));
      else throw new DockerError(`Error response from daemon: invalid filter '${k}'`, 1);
    }
    const rows = list.map((c) => psRow(c, noTrunc));
    if (quiet) {
      say(o, rows.map((r) => `${r.ID}\n`).join(''));
      return 0;
    }
    const fmt =
      format ?? 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';
    if (fmt.startsWith('table')) {
      const body = fmt.slice(5).trimStart();
      const header = renderTemplate(body, Object.fromEntries(Object.keys(PS_HEADERS).map((k) => [k, PS_HEADERS[k]])));
      const lines = [header, ...rows.map((r) => renderTemplate(body, r))].flatMap((l) => l.split('\n'));
      say(o, `${tabulate(lines)}\n`);
    } else {
      say(o, rows.map((r) => `${renderTemplate(fmt, r)}\n`).join(''));
    }
    return 0;
  }

  function cmdLogs(instanceId: string, rest: string[], o: Out): number {
    let since: number | undefined;
    let until: number | undefined;
    let tail: number | undefined;
    let timestamps = false;
    const refs: string[] = [];
    const now = nowMs();
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i]!;
      const next = () => {
        const v = rest[++i];
        if (v === undefined) throw new DockerError(`flag needs an argument: ${a}\nSee 'docker logs --help'.`, 125);
        return v;
      };
      const tailOf = (v: string) => (v === 'all' || Number(v) < 0 ? undefined : Number(v));
      if (a === '--since') since = parseDockerTime(next(), 'since', now);
      else if (a.startsWith('--since=')) since = parseDockerTime(a.slice(8), 'since', now);
      else if (a === '--until') until = parseDockerTime(next(), 'until', now);
      else if (a.startsWith('--until=')) until = parseDockerTime(a.slice(8), 'until', now);
      else if (a === '--tail' || a === '-n') tail = tailOf(next());
      else if (a.startsWith('--tail=')) tail = tailOf(a.slice(7));
      else if (/^-n\d+$/.test(a)) tail = Number(a.slice(2));
      else if (a === '-t' || a === '--timestamps') timestamps = true;
      else if (a === '-f' || a === '--follow' || a === '--details')
        continue; // no streaming in the twin: prints what is there
      else if (a.startsWith('-')) throw new DockerError(`unknown flag: ${a}\nSee 'docker logs --help'.`, 125);
      else refs.push(a);
    }
    if (refs.length !== 1)
      throw new DockerError(
        `"docker logs" requires exactly 1 argument.\nSee 'docker logs --help'.\n\nUsage:  docker logs [OPTIONS] CONTAINER\n\nFetch the logs of a container`,
        1,
      );
    const c = find(instanceId, refs[0]!);
    if (!c) throw new DockerError(`Error response from daemon: No such container: ${refs[0]}`, 1);
    let lines = c.logs.filter((l) => (since === undefined || l.at >= since) && (until === undefined || l.at <= until));
    if (tail !== undefined) lines = tail === 0 ? [] : lines.slice(-tail);
    for (const l of lines)
      (l.stream === 'stdout' ? say : err)(o, `${timestamps ? `${rfc3339Nano(l.at)} ` : ''}${l.text}\n`);
    return 0;
  }

  function cmdInspect(instanceId: string, rest: string[], o: Out, kind: 'object' | 'container'): number {
    let format: string | undefined;
    const refs: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i]!;
      if (a === '--format' || a === '-f') format = rest[++i];
      else if (a.startsWith('--format=')) format = a.slice(9);
      else if (a === '--type') i++;
      else if (a === '-s' || a === '--size' || a.startsWith('--type=')) continue;
      else if (a.startsWith('-')) throw new DockerError(`unknown flag: ${a}\nSee 'docker inspect --help'.`, 125);
      else refs.push(a);
    }
    if (!refs.length)
      throw new DockerError(`"docker inspect" requires at least 1 argument.\nSee 'docker inspect --help'.`, 1);
    const views: unknown[] = [];
    const missing: string[] = [];
    for (const ref of refs) {
      const c = find(instanceId, ref);
      if (c) views.push(inspectView(c));
      else missing.push(ref);
    }
    if (format !== undefined) for (const v of views) say(o, `${renderTemplate(format, v)}\n`);
    else say(o, `${JSON.stringify(views, null, 4)}\n`);
    for (const m of missing) err(o, `Error: No such ${kind}: ${m}\n`);
    return missing.length ? 1 : 0;
  }

  async function cmdLifecycle(
    instanceId: string,
    cmd: 'start' | 'stop' | 'restart' | 'kill',
    rest: string[],
    o: Out,
  ): Promise<number> {
    let timeout = defaultStopTimeout;
    let signal: NodeJS.Signals = cmd === 'kill' ? 'SIGKILL' : 'SIGTERM';
    const refs: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i]!;
      if ((a === '-t' || a === '--time' || a === '--timeout') && cmd !== 'kill' && cmd !== 'start')
        timeout = Number(rest[++i]);
      else if (/^--(time|timeout)=/.test(a)) timeout = Number(a.split('=')[1]);
      else if ((a === '-s' || a === '--signal') && cmd === 'kill')
        signal = `SIG${rest[++i]!.replace(/^SIG/, '')}` as NodeJS.Signals;
      else if (a.startsWith('--signal=')) signal = `SIG${a.slice(9).replace(/^SIG/, '')}` as NodeJS.Signals;
      else if (a === '-a' || a === '--attach' || a === '-i') continue;
      else if (a.startsWith('-')) throw new DockerError(`unknown flag: ${a}\nSee 'docker ${cmd} --help'.`, 125);
      else refs.push(a);
    }
    if (!refs.length)
      throw new DockerError(`"docker ${cmd}" requires at least 1 argument.\nSee 'docker ${cmd} --help'.`, 1);
    let failed = false;
    for (const ref of refs) {
      const c = find(instanceId, ref);
      if (!c) {
        err(o, `Error response from daemon: No such container: ${ref}\n`);
        failed = true;
        continue;
      }
      if (cmd === 'kill') {
        if (!c.running) {
          err(o, `Error response from daemon: cannot kill container: ${ref}: container ${c.id} is not running\n`);
          failed = true;
          continue;
        }
        await stopProc(c, 0, signal);
      } else if (cmd === 'stop') await stopProc(c, timeout);
      else if (cmd === 'restart') {
        await stopProc(c, timeout);
        if (containers(instanceId).get(c.name) === c) manualStart(instanceId, c);
      } else if (!c.running) manualStart(instanceId, c);
      say(o, `${ref}\n`);
    }
    return failed ? 1 : 0;
  }

  async function cmdRm(instanceId: string, rest: string[], o: Out): Promise<number> {
    const force = rest.some((a) => a === '-f' || a === '--force' || a === '-fv' || a === '-vf');
    const bad = rest.find((a) => a.startsWith('-') && !['-f', '--force', '-v', '--volumes', '-fv', '-vf'].includes(a));
    if (bad) throw new DockerError(`unknown flag: ${bad}\nSee 'docker rm --help'.`, 125);
    const refs = rest.filter((a) => !a.startsWith('-'));
    if (!refs.length) throw new DockerError(`"docker rm" requires at least 1 argument.\nSee 'docker rm --help'.`, 1);
    let failed = false;
    for (const ref of refs) {
      const c = find(instanceId, ref);
      if (!c) {
        err(o, `Error response from daemon: No such container: ${ref}\n`);
        failed = true;
        continue;
      }
      if ((c.running || c.restarting) && !force) {
        err(
          o,
          c.restarting
            ? `Error response from daemon: cannot remove container "/${c.name}": container is restarting: stop the container before removing or force remove\n`
            : `Error response from daemon: cannot remove container "/${c.name}": container is running: stop the container before removing or force remove\n`,
        );
        failed = true;
        continue;
      }
      containers(instanceId).delete(c.name);
      await stopProc(c, 0, 'SIGKILL');
      say(o, `${ref}\n`);
    }
    return failed ? 1 : 0;
  }

  /** Run one `docker …` command line for an instance; callerEnv resolves `-e NAME` without a value. */
  async function docker(
    instanceId: string,
    argv: string[],
    callerEnv: Record<string, string> = {},
  ): Promise<DockerResult> {
    const o: Out = { chunks: [] };
    let exitCode: number;
    let [cmd, ...rest] = argv;
    let kind: 'object' | 'container' = 'object';
    if (cmd === 'container') {
      kind = 'container';
      const sub = rest.shift();
      cmd = sub === 'ls' || sub === 'list' ? 'ps' : sub;
    }
    try {
      switch (cmd) {
        case 'run':
          exitCode = await cmdRun(instanceId, rest, callerEnv, o);
          break;
        case 'ps':
          exitCode = cmdPs(instanceId, rest, o);
          break;
        case 'logs':
          exitCode = cmdLogs(instanceId, rest, o);
          break;
        case 'inspect':
          exitCode = cmdInspect(instanceId, rest, o, kind);
          break;
        case 'start':
        case 'stop':
        case 'restart':
        case 'kill':
          exitCode = await cmdLifecycle(instanceId, cmd, rest, o);
          break;
        case 'rm':
          exitCode = await cmdRm(instanceId, rest, o);
          break;
        case 'version':
        case '--version':
        case '-v':
          say(o, 'Docker version 25.0.8, build 0bab007\n');
          exitCode = 0;
          break;
        case undefined:
          err(o, '\nUsage:  docker [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n');
          exitCode = 0;
          break;
        default:
          err(o, `docker: unknown command: docker ${cmd}\n\nRun 'docker --help' for more information\n`);
          exitCode = 1;
      }
    } catch (e) {
      if (!(e instanceof DockerError)) throw e;
      err(o, `${e.message}\n`);
      exitCode = e.code;
    }
    return {
      exitCode,
      stdout: o.chunks
        .filter((c) => c.stream === 'stdout')
        .map((c) => c.text)
        .join(''),
      stderr: o.chunks
        .filter((c) => c.stream === 'stderr')
        .map((c) => c.text)
        .join(''),
      chunks: o.chunks,
    };
  }

  return {
    docker,
    /** `docker inspect` view of one container (undefined if there is none by that name). */
    container(instanceId: string, name: string) {
      const c = containers(instanceId).get(name);
      return c ? inspectView(c) : undefined;
    },
    /** Names of the instance's containers (all states). */
    list(instanceId: string): string[] {
      return [...containers(instanceId).keys()];
    },
    /** The stored log lines of a container (copies). */
    logs(instanceId: string, name: string): LogLine[] {
      return (containers(instanceId).get(name)?.logs ?? []).map((l) => ({ ...l }));
    },
    /** Stop every container process (SIGTERM, SIGKILL after timeoutSeconds); no restarts afterwards. */
    async stopAll(timeoutSeconds = 2) {
      shuttingDown = true;
      const all = [...byInstance.values()].flatMap((m) => [...m.values()]);
      await Promise.all(all.map((c) => stopProc(c, timeoutSeconds)));
    },
  };
}
export type ContainerRuntime = ReturnType<typeof createContainerRuntime>;
