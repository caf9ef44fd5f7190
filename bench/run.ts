/**
 * npm run bench: the read-only gate (scripts/runbook.ts gate, as an operator runs it) against the
 * healthy twin at several fleet sizes and latency profiles. Per row: wall time (median of runs),
 * the runbook's calls per service next to the lower bound for that fleet, wall over 1.5 × the
 * critical path of the profile, where the time goes (bench/breakdown.ts), twin start-up and the
 * memory of the twin's node processes. Each row is written to bench/results.json and .md as soon as
 * it is measured; a size that fails is named on stderr and in the exit code, and the rows before it
 * stay. It reports; it does not gate.
 *
 *   BENCH_SIZES=3,10,30,100   BENCH_RUNS=3   BENCH_PROFILE=l20,aws   (BENCH_LATENCY_MS=20 for l20)
 *   BENCH_OUT=bench/results (where .json and .md go)   BENCH_NOTE='…' (a line for the results, e.g. the conditions)
 *   BENCH_CPU_HOGS=4 (that many busy loops run beside the whole bench, ended with it)
 *   BENCH_INCIDENT_SIZES=3,100 (the gate on incident-key-mismatch at these sizes: red, diagnosed; '' skips it)
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { configureAwsFaults, type AwsFaultsInput } from '../twin/aws/server.ts';
import { startTwin, type Twin } from '../twin/start.ts';
import { withCompileCache } from '../scripts/compile-cache.ts';
import {
  breakdown,
  junitTestTimes,
  type ProbeLine,
  RESULT_LINE,
  readProbe,
  type Breakdown,
  type ResultLine,
} from './breakdown.ts';
import { describeMachine, speedWords } from './machine.ts';
import { startTraceProxy, type TracedCall } from './trace.ts';

const root = join(import.meta.dirname, '..');
const sizes = (process.env.BENCH_SIZES ?? '3,10,30,100').split(',').filter(Boolean).map(Number);
const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const L = Number(process.env.BENCH_LATENCY_MS ?? 20);
const GATE_TIMEOUT_MS = 15 * 60_000;
const OUT = resolve(root, process.env.BENCH_OUT ?? join('bench', 'results'));
mkdirSync(dirname(OUT), { recursive: true });
const NOTE = process.env.BENCH_NOTE ?? '';
/** The reported incident, gated at these sizes too: what a red run costs the operator who runs it at 3 a.m. */
const INCIDENT = 'incident-key-mismatch';
const incidentSizes = (process.env.BENCH_INCIDENT_SIZES ?? '3,100').split(',').filter(Boolean).map(Number);
const SPEC_ORDER = readdirSync(join(root, 'specs'))
  .filter((f) => f.endsWith('.spec.ts'))
  .sort()
  .map((f) => f.replace('.spec.ts', ''));

interface Profile {
  description: string;
  rpcLatencyMs: number;
  aws: AwsFaultsInput;
  /** Per call on each endpoint, and per SSM command the delays nothing can overlap (delivery + report). */
  awsLatencyMs: number;
  ssmCommandMs: number;
}

const PROFILES: Record<string, Profile> = {
  l20: {
    description: `${L} ms on every NEAR RPC and AWS call; the twin's own SSM timing (invocations hidden for 100 ms)`,
    rpcLatencyMs: L,
    aws: { profile: 'twin', latencyMs: L },
    awsLatencyMs: L,
    ssmCommandMs: 0,
  },
  aws: {
    description:
      'AWS seen from its region (twin/aws/server.ts AWS_LATENCY_PROFILES.aws): 30 ms per AWS call; ' +
      'an SSM invocation invisible for 0.5 s, started 0.3 s after SendCommand, reported 0.4 s after it ends; ' +
      '30 ms per NEAR RPC call (through an SSM port forward to the NEAR base)',
    rpcLatencyMs: 30,
    aws: { profile: 'aws' },
    awsLatencyMs: 30,
    ssmCommandMs: 700,
  },
};
const profileNames = (process.env.BENCH_PROFILE ?? 'l20,aws').split(',').filter(Boolean);
for (const p of profileNames) if (!PROFILES[p]) throw new Error(`BENCH_PROFILE: unknown profile ${p}`);

/**
 * The gate's critical path: round trips that must follow one another (in gate and plan).
 * First, one after another: DescribeStacks ×2 ∥ (the context), 00's fix-lock read (GetSecretValue),
 * GetCallerIdentity, DescribeInstanceInformation (aws). Then two branches side by side:
 * - the fleet look 00 sends once the instances are online: the NEAR base probe ∥ the container status
 *   command (03's and 04's), each SendCommand + one read (aws) around the command's delivery and report;
 * - the rest of 00 and 01's chain reads: status, status once the head moved, view_account, version, then
 *   access keys ∥ balances ∥ gas price ∥ state (rpc); BatchGetSecretValue (aws) runs beside them.
 * After both: 04 state ∥ status, public_key; 05 derived_public_key (rpc; the root key is 04's reading).
 * Not in it: process and Vitest start-up, module loading, and the wait for the next block (≤ one block time).
 */
const CRITICAL_PATH = {
  before: { aws: 4 },
  fleetLook: { aws: 2, ssmCommands: 1 },
  chainReads: { rpc: 5 },
  after: { rpc: 3 },
};
const criticalPathMs = (p: Profile) =>
  CRITICAL_PATH.before.aws * p.awsLatencyMs +
  Math.max(
    CRITICAL_PATH.fleetLook.aws * p.awsLatencyMs + CRITICAL_PATH.fleetLook.ssmCommands * p.ssmCommandMs,
    CRITICAL_PATH.chainReads.rpc * p.rpcLatencyMs,
  ) +
  CRITICAL_PATH.after.rpc * p.rpcLatencyMs;

/** Outputs too long for the list response (the probe's, from about 20 nodes): each needs one GetCommandInvocation. */
const outputsCut = (b: Breakdown) => b.ssm_commands.reduce((sum, c) => sum + c.outputs_cut, 0);

/**
 * The fewest calls a gate can make on n nodes, per service (and SSM commands, for the status-read target).
 * `outputsCut`: the invocation outputs the gate found cut in the list response, as its trace shows.
 */
function lowerBound(n: number, outputsCut: number) {
  const batches = Math.ceil(n / 50);
  const commands = 1 + batches; // the NEAR base's node report; container status per 50 nodes (03 and 04 share it)
  return {
    calls: {
      // 00: status ×2, view_account, version; the chain view: one access-key list and one view_account per
      // account (no batch form of either), gas_price, state; 04: state, status, public_key (the root key 05
      // judges too); 05: derived_public_key
      rpc: 2 * n + 10,
      // BatchGetSecretValue holds 20 ids; and 00 reads the fix lock (a gate says who holds it)
      secretsmanager: Math.ceil((2 * n) / 20) + 1,
      // SendCommand + one status read per command; PingStatus per 50; the whole output of a cut one
      ssm: 2 * commands + Math.ceil((n + 1) / 50) + outputsCut,
      cloudformation: 2,
      sts: 1,
    },
    commands,
  };
}

interface GateRun {
  code: number | null;
  ms: number;
  calls: Record<string, number>;
  ops: Record<string, number>;
  breakdown: Breakdown;
  cpu: CpuSpent;
  tail: string[];
}

function countCalls(calls: TracedCall[]) {
  const out: Record<string, number> = { rpc: 0, secretsmanager: 0, ssm: 0, cloudformation: 0, sts: 0 };
  for (const c of calls) out[c.service] = (out[c.service] ?? 0) + 1;
  return out;
}

/** Calls per service and operation (RPC: method/request type:contract method), for the JSON. */
function countOps(calls: TracedCall[]) {
  const out: Record<string, number> = {};
  for (const c of calls) out[`${c.service} ${c.op}`] = (out[`${c.service} ${c.op}`] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort());
}

/** One gate run through the trace proxies, with the probe preloaded into the runbook and its workers. */
async function gate(twin: Twin, ws: string, run: number): Promise<GateRun> {
  const calls: TracedCall[] = [];
  const rpc = await startTraceProxy(twin.rpcUrl, calls);
  const aws = await startTraceProxy(twin.awsUrl, calls);
  const dir = join(ws, `run-${run}`);
  mkdirSync(dir, { recursive: true });
  const env = withCompileCache({
    ...process.env,
    ...twin.env,
    NEAR_RPC_URL: rpc.url,
    AWS_ENDPOINT_URL: aws.url,
    RUNBOOK_JOURNAL_DIR: join(dir, 'journal'),
    RUNBOOK_STATE_DIR: join(dir, 'state'),
    RUNBOOK_JUNIT_FILE: join(dir, 'junit.xml'),
    BENCH_PROBE_FILE: join(dir, 'probe.jsonl'),
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${join(root, 'bench', 'probe.ts')}`.trim(),
  });
  const tail: string[] = [];
  const results: ResultLine[] = [];
  const now = () => performance.timeOrigin + performance.now();
  const cpuBefore = cpuNow();
  const spawnAt = now();
  const code = await new Promise<number | null>((ok) => {
    const child = spawn(process.execPath, [join(root, 'scripts', 'runbook.ts'), 'gate'], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: GATE_TIMEOUT_MS,
    });
    const keep = (d: Buffer) => {
      const at = now();
      const lines = d.toString('utf8').split('\n').filter(Boolean);
      for (const l of lines) {
        const m = RESULT_LINE.exec(l);
        if (m) results.push({ step: m[1]!, at });
      }
      tail.push(...lines);
      tail.splice(0, Math.max(0, tail.length - 60));
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('exit', (c) => ok(c));
  });
  const exitAt = now();
  await Promise.all([rpc.stop(), aws.stop()]);
  const probe = readProbe(env.BENCH_PROBE_FILE);
  const cpu = cpuSpent(cpuBefore, cpuNow(), probe);
  const b = breakdown({
    spawnAt,
    exitAt,
    probe,
    calls,
    tests: junitTestTimes(env.RUNBOOK_JUNIT_FILE),
    results,
    specOrder: SPEC_ORDER,
  });
  return { code, ms: exitAt - spawnAt, calls: countCalls(calls), ops: countOps(calls), breakdown: b, cpu, tail };
}

/** Fields of /proc/PID/stat after the command name (f[0] is field 3, the state). */
function procStat(pid: number | 'self'): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}
const HZ = 100; // USER_HZ on Linux

/** CPU so far: this process (the twin runs in it, beside the trace proxies), its reaped children, the nodes. */
function cpuNow() {
  const self = process.cpuUsage();
  const f = procStat('self');
  const { pids, ticks } = nodeProcesses();
  return {
    selfMs: (self.user + self.system) / 1000,
    reapedMs: ((Number(f[13]) + Number(f[14])) * 1000) / HZ,
    nodeTicks: new Map(pids.map((pid) => [pid, ticks.get(pid)!])),
  };
}

/**
 * The CPU one gate run cost, in seconds: the runbook (its process and workers, from the probe's exit lines);
 * the twin's process (this one); the instance shells (the reaped children that are not the runbook: the
 * scripts SSM ran and the commands they ran, work that on AWS each instance does on its own machine); the
 * nodes (the node processes' ticks over the run).
 */
function cpuSpent(before: ReturnType<typeof cpuNow>, after: ReturnType<typeof cpuNow>, probe: ProbeLine[]) {
  const runbookMs = probe.filter((l) => l.event === 'exit').reduce((sum, l) => sum + (l.cpu_ms ?? 0), 0);
  let nodeTicks = 0;
  for (const [pid, t] of after.nodeTicks) if (before.nodeTicks.has(pid)) nodeTicks += t - before.nodeTicks.get(pid)!;
  const shellsMs = Math.max(0, after.reapedMs - before.reapedMs - runbookMs);
  return {
    runbook: runbookMs / 1000,
    twin: (after.selfMs - before.selfMs) / 1000,
    shells: shellsMs / 1000,
    nodes: nodeTicks / HZ,
  };
}
type CpuSpent = ReturnType<typeof cpuSpent>;

/**
 * The twin's node processes, from /proc: this process's descendants that exist for the nodes — the node
 * hosts (twin/node/host.ts), each container's own process (the shim, argv0 `mpc-node`) and any node run
 * as a process of its own (twin/node/main.ts) — and every process's CPU ticks (utime + stime).
 */
function nodeProcesses() {
  const isNode = (cmd: string) =>
    cmd.includes(join(root, 'twin', 'node', 'host.ts')) ||
    cmd.includes(join(root, 'twin', 'node', 'main.ts')) ||
    cmd.endsWith('\0mpc-node\0');
  const parent = new Map<number, number>();
  const cmd = new Map<number, string>();
  const ticks = new Map<number, number>();
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const f = procStat(Number(d));
      parent.set(Number(d), Number(f[1]));
      ticks.set(Number(d), Number(f[11]) + Number(f[12]));
      cmd.set(Number(d), readFileSync(`/proc/${d}/cmdline`, 'utf8'));
    } catch {
      /* gone meanwhile */
    }
  }
  const mine = (pid: number) => {
    for (let p = parent.get(pid), hops = 0; p && hops < 20; p = parent.get(p), hops++)
      if (p === process.pid) return true;
    return false;
  };
  const pids = [...cmd].filter(([pid, c]) => isNode(c) && mine(pid)).map(([pid]) => pid);
  return { pids, ticks };
}

/** CPU ticks the node processes spent between two readings of nodeProcesses(). */
function nodeTicksBetween(before: ReturnType<typeof nodeProcesses>, after: ReturnType<typeof nodeProcesses>) {
  let ticks = 0;
  for (const pid of after.pids) if (before.ticks.has(pid)) ticks += after.ticks.get(pid)! - before.ticks.get(pid)!;
  return ticks;
}

/**
 * What the twin's nodes cost: RSS summed at the end; CPU, as a percentage of one core per node, over
 * `windows` back-to-back windows of `windowMs` each on an idle Running twin (its meshes up: meshesSettled).
 * The median window is the figure; all of them are kept, so a window that caught the fleet still settling shows.
 */
async function nodeCost(n: number, windowMs: number, windows = 3) {
  const pct: number[] = [];
  let last = nodeProcesses();
  for (let w = 0; w < windows; w++) {
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, windowMs));
    const now = nodeProcesses();
    const seconds = (performance.now() - t0) / 1000;
    pct.push((100 * nodeTicksBetween(last, now)) / HZ / seconds / n);
    last = now;
  }
  let kb = 0;
  for (const pid of last.pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* gone meanwhile */
    }
  }
  return {
    rssMbPerNode: kb / 1024 / n,
    idleCpuPctPerNode: median(pct),
    idleCpuPctWindows: pct,
    processes: last.pids.length,
  };
}

/**
 * A twin at Running is still settling: each node's Running job dials its peers afresh, retrying each
 * second until the peer's listener is up. Idle means after that: every node reports a live connection
 * to each of its peers (`mpc_network_live_connections` on its /metrics). Returns the seconds it took.
 */
async function meshesSettled(twin: Twin): Promise<number> {
  const t0 = performance.now();
  const peers = twin.nodes.length - 1;
  const live = async (ip: string) => {
    const text = await fetch(`http://${ip}:8080/metrics`).then(
      (r) => r.text(),
      () => '',
    );
    return text.split('\n').filter((l) => l.startsWith('mpc_network_live_connections{') && l.endsWith(' 1')).length;
  };
  await untilEveryNode(
    twin,
    async (ip) => (await live(ip)) >= peers,
    "the nodes' P2P meshes were not all up",
    'Running',
  );
  return (performance.now() - t0) / 1000;
}

/** Every node of a twin that is not Running answers /health (its container is up), so a gate sees a steady fleet. */
async function nodesAnswering(twin: Twin): Promise<void> {
  const up = (ip: string) =>
    fetch(`http://${ip}:8080/health`).then(
      (r) => r.ok,
      () => false,
    );
  await untilEveryNode(twin, up, 'not every node answered /health', 'the twin started');
}

/** Asks every node (by its address) every 500 ms until each says yes; throws after two minutes. */
async function untilEveryNode(twin: Twin, yes: (ip: string) => Promise<boolean>, failure: string, since: string) {
  const t0 = performance.now();
  while (performance.now() - t0 < NODES_TIMEOUT_MS) {
    if ((await Promise.all(twin.nodes.map((n) => yes(n.privateIp)))).every(Boolean)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${failure} ${NODES_TIMEOUT_MS / 1000} s after ${since}`);
}
const NODES_TIMEOUT_MS = 120_000;

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round1 = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * The gate `runs` times under one profile; each run must pass `accepted` (true, or what to add to "exited N"),
 * or the bench stops there with the run's last lines on stderr.
 */
async function gateRuns(
  twin: Twin,
  profile: string,
  dir: string,
  what: string,
  accepted: (r: GateRun) => true | string,
): Promise<GateRun[]> {
  const p = PROFILES[profile]!;
  configureAwsFaults(twin.aws.faults, p.aws);
  twin.rpc.faults.latencyMs = p.rpcLatencyMs;
  const results: GateRun[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await gate(twin, dir, i);
    const verdict = accepted(r);
    if (verdict !== true) {
      const said = `the gate on ${what} (${profile}) exited ${r.code}${verdict ? ` ${verdict}` : ''}`;
      process.stderr.write(`bench: ${said}; its last lines:\n${r.tail.map((l) => `  ${l}`).join('\n')}\n`);
      throw new Error(said);
    }
    results.push(r);
  }
  return results;
}

/** The median of a row's gate runs, and the fields every row has. */
function medianRun(results: GateRun[], n: number, profile: string) {
  const wall = median(results.map((r) => r.ms));
  const mid = results.find((r) => r.ms === wall)!;
  const common = {
    nodes: n,
    profile,
    runs,
    wall_ms_median: Math.round(wall),
    wall_ms_all: results.map((r) => Math.round(r.ms)),
    calls: mid.calls,
    calls_by_operation: mid.ops,
    cpu_s: {
      runbook: round2(mid.cpu.runbook),
      twin: round2(mid.cpu.twin),
      shells: round2(mid.cpu.shells),
      nodes: round2(mid.cpu.nodes),
    },
  };
  return { wall, mid, common };
}

/** Every run of one profile on a running twin: the row for (nodes, profile). */
type NodeCost = Awaited<ReturnType<typeof nodeCost>>;

async function measure(twin: Twin, n: number, name: string, ws: string, twinStartS: number, cost: NodeCost) {
  const p = PROFILES[name]!;
  const loadBefore = loadavg()[0]!;
  const results = await gateRuns(twin, name, join(ws, name), `healthy/${n}`, (r) => r.code === 0 || '');
  const { wall, mid, common } = medianRun(results, n, name);
  const bound = lowerBound(n, outputsCut(mid.breakdown));
  const cp = criticalPathMs(p);
  return {
    ...common,
    calls_lower_bound: bound.calls,
    ssm_calls_target: bound.calls.ssm + 2 * bound.commands,
    critical_path_ms: cp,
    critical_path_ratio: round1(wall / (1.5 * cp)),
    breakdown_ms: mid.breakdown,
    twin_start_s: round1(twinStartS),
    twin_rss_mb_per_node: round1(cost.rssMbPerNode),
    twin_idle_cpu_pct_per_node: round2(cost.idleCpuPctPerNode),
    twin_idle_cpu_pct_windows: cost.idleCpuPctWindows.map(round2),
    twin_node_processes: cost.processes,
    load_avg_1m: [round1(loadBefore), round1(loadavg()[0]!)],
  };
}
type Row = Awaited<ReturnType<typeof measure>>;

/** The diagnosis a gate on the incident must end with, or the run measured something else. */
const DIAGNOSED = `Known failure: ${INCIDENT}`;

/** Every run of one profile on the incident twin: red, with the incident diagnosed, or it throws. */
async function measureIncident(twin: Twin, n: number, name: string, ws: string) {
  const diagnosed = (r: GateRun) =>
    (r.code === 1 && r.tail.some((l) => l.startsWith(DIAGNOSED))) || `without "${DIAGNOSED}"`;
  const results = await gateRuns(twin, name, join(ws, `incident-${name}`), `${INCIDENT}/${n}`, diagnosed);
  const { mid, common } = medianRun(results, n, name);
  const files = Object.entries(mid.breakdown.spec_files);
  return {
    scenario: INCIDENT,
    ...common,
    ssm_commands: mid.breakdown.ssm_commands.map((c) => c.comment),
    spec_files_ms: Object.fromEntries(files.map(([f, t]) => [f, Math.round(t.wall)])),
    load_avg_1m_after: round1(loadavg()[0]!),
  };
}
type IncidentRow = Awaited<ReturnType<typeof measureIncident>>;

const machine = describeMachine();
const started = new Date().toISOString();
// Busy loops beside the whole bench (a machine busy with other work); ended when the bench ends.
const hogs = Array.from({ length: Number(process.env.BENCH_CPU_HOGS ?? 0) }, () =>
  spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }),
);
process.on('exit', () => {
  for (const h of hogs) h.kill('SIGKILL');
});
const HOG_NOTE = hogs.length
  ? `Run beside ${hogs.length} CPU hogs (BENCH_CPU_HOGS=${hogs.length}: \`sh -c 'while :; do :; done'\` each).`
  : '';
const rows: Row[] = [];
const incidentRows: IncidentRow[] = [];
const failures: { nodes: number; profile?: string; error: string }[] = [];

function write() {
  const note = [HOG_NOTE, NOTE].filter(Boolean).join(' ');
  const json = {
    date: started,
    note,
    machine,
    runs,
    profiles: PROFILES,
    critical_path: CRITICAL_PATH,
    rows,
    incident_rows: incidentRows,
  };
  writeFileSync(`${OUT}.json`, `${JSON.stringify({ ...json, failures }, null, 2)}\n`);
  const md = `${OUT}.md`;
  writeFileSync(md, `${markdown()}\n`);
  // The project's formatter pads the tables (npm run lint checks every file).
  const biome = join(root, 'node_modules', '.bin', 'biome');
  spawnSync(biome, ['format', '--write', md, `${OUT}.json`], { cwd: root, stdio: 'ignore' });
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const MAIN_HEADER = [
  'nodes',
  'profile',
  'gate wall',
  'RPC calls (bound)',
  'Secrets Manager (bound)',
  'SSM (bound) ≤ target',
  'CFN (bound)',
  'STS (bound)',
  'wall / (1.5 × critical path)',
  'twin start to Running',
  'node RSS per node',
  'idle node CPU',
];
const WHERE_HEADER = [
  'nodes',
  'profile',
  'process start',
  'Vitest start-up',
  'worker start',
  'module loading',
  'steps: waiting on the Layer 3 (Σ)',
  'steps: other (Σ)',
  'teardown',
  'CPU: runbook + twin + instance shells + nodes = Σ (Σ ÷ cores)',
];
const LAYER3_HEADER = ['nodes', 'profile', 'discovery', 'evidence', 'SSM round trips', 'views', 'SSM commands'];
const table = (header: string[], rows: string[][]) => [
  `| ${header.join(' | ')} |`,
  `|${header.map(() => '---|').join('')}`,
  ...rows.map((r) => `| ${r.join(' | ')} |`),
];

/** The median idle window and, in brackets, the lowest and highest. */
const idleCpu = (r: Row) => {
  const w = r.twin_idle_cpu_pct_windows;
  return `${r.twin_idle_cpu_pct_per_node} % (${Math.min(...w)}–${Math.max(...w)})`;
};

const cpuParts = (c: Row['cpu_s']) => [c.runbook, c.twin, c.shells, c.nodes];
const cpuTotal = (c: Row['cpu_s']) => cpuParts(c).reduce((t, x) => t + x, 0);
/** runbook + twin + instance shells + nodes = Σ, in CPU-seconds. */
const cpuSum = (c: Row['cpu_s']) =>
  `${cpuParts(c)
    .map((x) => x.toFixed(1))
    .join(' + ')} = ${cpuTotal(c).toFixed(1)} s`;

function mainRow(r: Row): string[] {
  const b = (k: keyof Row['calls_lower_bound']) => `${r.calls[k] ?? 0} (${r.calls_lower_bound[k]})`;
  return [
    String(r.nodes),
    r.profile,
    s(r.wall_ms_median),
    b('rpc'),
    b('secretsmanager'),
    `${b('ssm')} ≤ ${r.ssm_calls_target}`,
    b('cloudformation'),
    b('sts'),
    `${r.critical_path_ratio} (${s(r.critical_path_ms)})`,
    `${r.twin_start_s} s`,
    `${r.twin_rss_mb_per_node} MB`,
    idleCpu(r),
  ];
}

function whereRow(r: Row): string[] {
  const x = r.breakdown_ms;
  const files = Object.values(x.spec_files);
  const sum = (k: 'waiting_on_layer3' | 'other') => files.reduce((t, f) => t + f[k], 0);
  const total = cpuTotal(r.cpu_s);
  return [String(r.nodes), r.profile].concat(
    [x.process_start, x.vitest_startup, x.worker_start, x.module_loading, sum('waiting_on_layer3'), sum('other')]
      .concat(x.teardown)
      .map(s),
    `${cpuSum(r.cpu_s)} (${(total / machine.cores).toFixed(1)} s)`,
  );
}

function layer3Row(r: Row): string[] {
  const l3 = r.breakdown_ms.layer3;
  const each = r.breakdown_ms.ssm_commands.map((c) => {
    const parts = c.running !== undefined ? ` (${[c.to_start!, c.running, c.after_end!].map(s).join(' + ')})` : '';
    const reads = `${c.status_reads} reads${c.output_reads ? ` + ${c.output_reads} output` : ''}`;
    return `${c.comment}: ${s(c.ms)}${parts}, ${reads}`;
  });
  return [String(r.nodes), r.profile, s(l3.discovery), s(l3.evidence), s(l3.ssm_round_trips), s(l3.views)].concat(
    each.join('; '),
  );
}

function filesRow(r: Row): string[] {
  const each = Object.entries(r.breakdown_ms.spec_files).map(([f, t]) => {
    return `${f.slice(0, 2)}: ${s(t.wall)} = ${s(t.waiting_on_layer3)} + ${s(t.other)}`;
  });
  return [String(r.nodes), r.profile, each.join('; ')];
}

const INCIDENT_HEADER = [
  'nodes',
  'profile',
  'gate wall (red, diagnosed)',
  'RPC calls',
  'Secrets Manager',
  'SSM (commands)',
  'CPU: runbook + twin + instance shells + nodes = Σ',
  'per spec file',
];

function incidentRow(r: IncidentRow): string[] {
  const files = Object.entries(r.spec_files_ms).map(([f, ms]) => `${f.slice(0, 2)}: ${s(ms)}`);
  return [
    String(r.nodes),
    r.profile,
    s(r.wall_ms_median),
    String(r.calls.rpc ?? 0),
    String(r.calls.secretsmanager ?? 0),
    `${r.calls.ssm ?? 0} (${r.ssm_commands.length})`,
    cpuSum(r.cpu_s),
    files.join('; '),
  ];
}

function incidentSection(): string[] {
  if (!incidentRows.length) return [];
  return [
    `The reported incident (${INCIDENT}: each node's account key in Secrets Manager and /data/secrets.json ` +
      'is not its access key on chain; the contract stays Initializing): the gate is red and ends with its ' +
      "diagnosis. Median run; the SSM commands include 03's node state and 04's blocker evidence (node state, " +
      'P2P reach):',
    '',
    ...table(INCIDENT_HEADER, incidentRows.map(incidentRow)),
    '',
  ];
}

function healthySection(): string[] {
  if (!rows.length) return [];
  return [
    ...table(MAIN_HEADER, rows.map(mainRow)),
    '',
    'Where the time goes (the median run; the spec files run one after another in one worker process):',
    '',
    ...table(WHERE_HEADER, rows.map(whereRow)),
    '',
    'Per spec file (from the previous file’s last result): wall = waiting on the Layer 3 + other:',
    '',
    ...table(['nodes', 'profile', 'spec files'], rows.map(filesRow)),
    '',
    'The Layer 3, per kind of call (unions of spans; evidence includes the NEAR base SSM command). ' +
      'SSM commands: SendCommand → last read (to start + running + after the end, as SSM reports them):',
    '',
    ...table(LAYER3_HEADER, rows.map(layer3Row)),
    '',
  ];
}

function markdown(): string {
  return [
    `Measured ${started} on ${machine.cores} cores (${machine.cpu}), ${machine.memory_gb} GB, Node ${machine.node}, ` +
      `load average ${machine.load_avg_at_start.join(' / ')} at start; ${speedWords(machine)}. ` +
      `Median of ${runs} gate runs per row.` +
      (HOG_NOTE ? ` ${HOG_NOTE}` : '') +
      (NOTE ? ` ${NOTE}` : ''),
    '',
    ...healthySection(),
    ...incidentSection(),
    ...profileNames.map(
      (p) => `- **${p}**: ${PROFILES[p]!.description}; critical path ${s(criticalPathMs(PROFILES[p]!))}.`,
    ),
    `- Critical path: ${CRITICAL_PATH.before.aws} AWS round trips, then the longer of the fleet look ` +
      `(${CRITICAL_PATH.fleetLook.aws} AWS round trips around ` +
      `${plural(CRITICAL_PATH.fleetLook.ssmCommands, 'SSM command')}'s delivery and report, sent in 00) and ` +
      `${CRITICAL_PATH.chainReads.rpc} RPC round trips, then ${CRITICAL_PATH.after.rpc} more; see bench/run.ts.`,
    '- SSM target: the bound plus two more status reads per command. The bound counts one GetCommandInvocation ' +
      'for each output the list response showed cut at 2,500 characters (the probe from about 20 nodes).',
    "- Idle node CPU: the median of three 5-s windows, back to back, once every node's P2P mesh is up (each node " +
      'live to each peer), per node as a share of one core; in brackets the lowest and highest window. The gates ' +
      'run after it.',
    '- CPU: what the median run cost the machine. The runbook: its process and Vitest worker. The twin: its process ' +
      '(the bench runs it, beside the trace proxies). The instance shells: the scripts SSM ran and what they ran ' +
      '(on AWS each instance runs its own). The nodes: their processes over the run. Σ ÷ cores is the least wall ' +
      'that much work takes on this machine.',
    ...failures.map((f) => `- **failed** at ${f.nodes} nodes${f.profile ? ` (${f.profile})` : ''}: ${f.error}`),
  ].join('\n');
}

for (const n of sizes) {
  const ws = mkdtempSync(join(tmpdir(), `bench-${n}-`));
  let twin: Twin | undefined;
  try {
    const t0 = performance.now();
    twin = await startTwin({ scenario: 'healthy', nodes: n, blockTimeMs: 500, runningTimeoutMs: 600_000 });
    const startS = (performance.now() - t0) / 1000;
    await meshesSettled(twin);
    const cost = await nodeCost(n, 5_000, 3);
    for (const name of profileNames) {
      try {
        const row = await measure(twin, n, name, ws, startS, cost);
        rows.push(row);
        process.stdout.write(`${JSON.stringify({ ...row, breakdown_ms: undefined })}\n`);
      } catch (e) {
        failures.push({ nodes: n, profile: name, error: (e as Error).message });
      }
      write();
    }
  } catch (e) {
    failures.push({ nodes: n, error: `the twin did not start: ${(e as Error).message}` });
    write();
  } finally {
    await twin?.stop().catch(() => {});
    rmSync(ws, { recursive: true, force: true });
  }
}
for (const n of incidentSizes) {
  const ws = mkdtempSync(join(tmpdir(), `bench-incident-${n}-`));
  let twin: Twin | undefined;
  try {
    twin = await startTwin({ scenario: INCIDENT, nodes: n, blockTimeMs: 500 });
    await nodesAnswering(twin);
    for (const name of profileNames) {
      try {
        const row = await measureIncident(twin, n, name, ws);
        incidentRows.push(row);
        process.stdout.write(`${JSON.stringify(row)}\n`);
      } catch (e) {
        failures.push({ nodes: n, profile: `${INCIDENT}, ${name}`, error: (e as Error).message });
      }
      write();
    }
  } catch (e) {
    failures.push({ nodes: n, profile: INCIDENT, error: `the twin did not start: ${(e as Error).message}` });
    write();
  } finally {
    await twin?.stop().catch(() => {});
    rmSync(ws, { recursive: true, force: true });
  }
}
write();
process.stdout.write(`\n${markdown()}\n`);
if (failures.length) {
  process.stderr.write(
    `bench: failed at ${failures.map((f) => `${f.nodes} nodes${f.profile ? ` (${f.profile})` : ''}`).join(', ')}\n`,
  );
  process.exit(1);
}
process.exit(0);
