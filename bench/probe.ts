/**
 * Preloaded by the bench into the runbook process and every process it forks (NODE_OPTIONS
 * `--import`): one JSON line per process to BENCH_PROBE_FILE when Node has bootstrapped and one when
 * it exits (or is stopped with SIGTERM), with epoch-ms timestamps. `origin` is when the OS process
 * started (performance.timeOrigin), so `ready - origin` is Node's own start-up; at exit, the CPU the process
 * used (user + system). Nothing else: it must not change what it measures.
 */
import { appendFileSync } from 'node:fs';

const file = process.env.BENCH_PROBE_FILE;
if (file) {
  const now = () => performance.timeOrigin + performance.now();
  const role = process.argv.slice(1).some((a) => a.endsWith('scripts/runbook.ts')) ? 'runbook' : 'worker';
  const line = (event: string, extra: Record<string, unknown> = {}) =>
    appendFileSync(file, `${JSON.stringify({ event, pid: process.pid, ppid: process.ppid, role, ...extra })}\n`);
  line('ready', { origin: performance.timeOrigin, at: now() });
  let done = false;
  const exit = (how: string) => {
    const cpu = process.cpuUsage();
    if (!done) line('exit', { at: now(), how, cpu_ms: (cpu.user + cpu.system) / 1000 });
    done = true;
  };
  process.on('exit', () => exit('exit'));
  // Vitest stops a worker with SIGTERM, whose default action skips 'exit' handlers: record it, then
  // end as SIGTERM would (the same exit status), as Vitest's own profiling work-around does.
  if (role === 'worker')
    process.on('SIGTERM', () => {
      exit('SIGTERM');
      process.exit(143);
    });
}
