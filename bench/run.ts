/**
 * npm run bench: the read-only gate against the healthy twin at several fleet sizes, with an
 * injected per-call latency on the twin's RPC and AWS endpoint, so network-bound behaviour shows on
 * one machine. Reports wall time (median), calls per service next to the lower bound for that
 * fleet, and wall time over (critical-path depth × latency). Writes bench/results.json and .md.
 * It reports; it does not gate.
 *
 * BENCH_SIZES=3,10,30,100  BENCH_RUNS=3  BENCH_LATENCY_MS=20
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTwin } from '../twin/start.ts';

const root = join(import.meta.dirname, '..');
const sizes = (process.env.BENCH_SIZES ?? '3,10,30,100').split(',').map(Number);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const L = Number(process.env.BENCH_LATENCY_MS ?? 20);
/** Sequential round trips a gate cannot avoid: discovery, evidence (keys ∥ state ∥ secrets ∥ SSM send/poll/read), 04 state + SSM send/poll, 05 views. */
const CRITICAL_PATH_DEPTH = 12;

const gate = (env: Record<string, string>) =>
  new Promise<{ code: number | null; ms: number }>((ok) => {
    const t0 = performance.now();
    spawn(process.execPath, [join(root, 'scripts', 'runbook.ts'), 'gate'], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: 'ignore',
    }).on('exit', (code) => ok({ code, ms: performance.now() - t0 }));
  });

const sum = (o: Record<string, number> = {}) => Object.values(o).reduce((a, b) => a + b, 0);
const rows: Record<string, unknown>[] = [];
for (const n of sizes) {
  const t0 = performance.now();
  const twin = await startTwin({ scenario: 'healthy', nodes: n, blockTimeMs: 500, runningTimeoutMs: 600_000 });
  const startS = (performance.now() - t0) / 1000;
  const ws = mkdtempSync(join(tmpdir(), 'bench-'));
  const env = {
    ...twin.env,
    RUNBOOK_JOURNAL_DIR: join(ws, 'j'),
    RUNBOOK_STATE_DIR: join(ws, 'r'),
    RUNBOOK_JUNIT_FILE: join(ws, 'junit.xml'),
  };
  twin.rpc.faults.latencyMs = L;
  twin.aws.faults.latencyMs = L;
  const walls: number[] = [];
  let calls: Record<string, number> = {};
  for (let i = 0; i < runs; i++) {
    const rpcBefore = sum(twin.rpc.stats().calls);
    const awsBefore = twin.aws.stats();
    const r = await gate(env);
    if (r.code !== 0) process.stderr.write(`bench: gate on healthy/${n} exited ${r.code}\n`);
    walls.push(r.ms);
    const awsAfter = twin.aws.stats();
    calls = {
      rpc: sum(twin.rpc.stats().calls) - rpcBefore,
      secretsmanager: sum(awsAfter.secretsmanager) - sum(awsBefore.secretsmanager),
      ssm: sum(awsAfter.ssm) - sum(awsBefore.ssm),
      cloudformation: sum(awsAfter.cloudformation) - sum(awsBefore.cloudformation),
      sts: sum(awsAfter.sts) - sum(awsBefore.sts),
    };
  }
  await twin.stop();
  walls.sort((a, b) => a - b);
  const median = walls[Math.floor(walls.length / 2)]!;
  const lower = {
    rpc: n + 1, // one access-key list per account + one state()
    secretsmanager: Math.ceil((2 * n) / 20), // BatchGetSecretValue holds 20 ids
    ssm: 2 * (1 + Math.ceil(n / 50)), // SendCommand to the NEAR base and to the nodes (≤ 50 each), one status read each
    cloudformation: 2,
    sts: 1,
  };
  const row = {
    nodes: n,
    twin_start_s: Number(startS.toFixed(1)),
    wall_ms_median: Math.round(median),
    calls,
    calls_lower_bound: lower,
    critical_path_ratio: Number((median / (CRITICAL_PATH_DEPTH * L)).toFixed(1)),
  };
  rows.push(row);
  process.stdout.write(`${JSON.stringify(row)}\n`);
}
const md = [
  `| nodes | gate wall (median of ${runs}) | RPC calls (bound) | Secrets Manager (bound) | SSM (bound) | CFN (bound) | STS (bound) | wall / (depth × L) | twin start |`,
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    // biome-ignore lint/suspicious/noExplicitAny: rows are the JSON written above
    (r: any) =>
      `| ${r.nodes} | ${(r.wall_ms_median / 1000).toFixed(1)} s | ${r.calls.rpc} (${r.calls_lower_bound.rpc}) | ${r.calls.secretsmanager} (${r.calls_lower_bound.secretsmanager}) | ${r.calls.ssm} (${r.calls_lower_bound.ssm}) | ${r.calls.cloudformation} (${r.calls_lower_bound.cloudformation}) | ${r.calls.sts} (${r.calls_lower_bound.sts}) | ${r.critical_path_ratio} | ${r.twin_start_s} s |`,
  ),
  '',
  `L = ${L} ms injected per RPC and AWS call; depth = ${CRITICAL_PATH_DEPTH} sequential round trips.`,
].join('\n');
writeFileSync(join(root, 'bench', 'results.json'), `${JSON.stringify(rows, null, 2)}\n`);
writeFileSync(join(root, 'bench', 'results.md'), `${md}\n`);
process.stdout.write(`\n${md}\n`);
process.exit(0);
