/**
 * How fast this machine is at the two things the bench's work is made of, so tables from different
 * days and machines can be compared: starting a process (the twin's instance shells are hundreds of
 * short scripts, and a VM can make fork and exec several times dearer than bare metal) and plain
 * JavaScript (the runbook, Vitest and the twin). Measured by the clock, beside whatever else runs.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';

const STARTS = 200;
const LOOP = 2e8;

/** Milliseconds per start of /bin/true from sh (fork, exec, exit, wait): the cost of one tiny process. */
export function processStartMs(starts = STARTS): number {
  const script = `i=0; while [ $i -lt ${starts} ]; do /bin/true; i=$((i+1)); done`;
  const t0 = performance.now();
  const r = spawnSync('sh', ['-c', script], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`bench: the process-start probe failed (sh exit ${r.status})`);
  return (performance.now() - t0) / starts;
}

/** Milliseconds for a fixed loop of additions: the speed of one core at JavaScript. */
export function jsLoopMs(n = LOOP): number {
  const t0 = performance.now();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += i & 7;
  if (sum < 0) throw new Error('unreachable'); // keeps the loop from being optimised away
  return performance.now() - t0;
}

/** The machine as the results record it. */
export function describeMachine() {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memory_gb: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    load_avg_at_start: loadavg().map((l) => Number(l.toFixed(1))),
    process_start_ms: Number(processStartMs().toFixed(2)),
    js_loop_ms: Math.round(jsLoopMs()),
  };
}

/** The header's words for the machine's speed. */
export const speedWords = (m: ReturnType<typeof describeMachine>) =>
  `a process start (fork + exec of /bin/true from sh) ${m.process_start_ms} ms, ` +
  `a loop of ${LOOP / 1e8}e8 additions ${m.js_loop_ms} ms`;
