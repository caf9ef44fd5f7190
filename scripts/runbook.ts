/**
 * npm run runbook | plan | fix [-- <spec filter>]: the runbook project of vitest in one mode. The exit
 * code is the verdict. Ctrl-C or SIGTERM stops the run cleanly: the global teardown releases the fix
 * lock and stops a twin, and the run says what it had done (its journal, the steps that finished, any
 * write in flight — recorded as interrupted, its outcome unknown).
 */
import { enableCompileCache } from 'node:module';
import { MODES } from '../helpers/harness/mode.ts';
import { COMPILE_CACHE_DIR } from './compile-cache.ts';

// Start-up: V8's compile cache for this process and its Vitest worker (the AWS SDK, near-api-js and
// Vitest itself load ~30 % faster from it); so the modules below are imported only once it is on.
process.env.NODE_COMPILE_CACHE ??= COMPILE_CACHE_DIR;
enableCompileCache(process.env.NODE_COMPILE_CACHE);
const { createVitest } = await import('vitest/node');
const { interruptionReport } = await import('../helpers/interruption.ts');
const { runbookReporters } = await import('../specs/setup/reporters.ts');

const [mode = 'gate', ...filters] = process.argv.slice(2);
if (!(MODES as readonly string[]).includes(mode)) {
  process.stderr.write(`usage: node scripts/runbook.ts gate|plan|fix [spec filter…]\n`);
  process.exit(2);
}
process.env.RUNBOOK_MODE = mode;

const vitest = await createVitest({ project: ['runbook'], watch: false, run: true, reporters: runbookReporters() });
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // Vitest's own handler exits at once; this run first stops cleanly and says what it had done.
  process.removeAllListeners(signal);
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    process.stdout.write(`\n${signal}: stopping the run…\n`);
    void (async () => {
      await vitest.cancelCurrentRun('keyboard-input').catch(() => undefined);
      await vitest.close().catch(() => undefined);
      // Exit once the report is out (a pipe is written asynchronously).
      process.stdout.write(interruptionReport(signal), () => process.exit(signal === 'SIGINT' ? 130 : 143));
    })();
  });
}
try {
  await vitest.start(filters);
} catch (e) {
  if (interrupted) await new Promise(() => undefined); // the signal handler reports and exits
  // The set-up threw before any step ran (the report above says so): its error in one redacted line.
  const { redactor } = await import('../helpers/redact.ts');
  process.stdout.write(`Set-up error: ${redactor.redactError(e).message.split('\n')[0]}\n`);
  await vitest.close().catch(() => undefined);
  process.exit(1);
}
if (!interrupted) {
  await vitest.close();
  process.exit(process.exitCode ?? (vitest.state.getCountOfFailedTests() ? 1 : 0));
}
