/**
 * npm run runbook | plan | fix [-- <spec filter>]: the runbook project of vitest in one mode.
 * The exit code is the verdict.
 */
import { startVitest } from 'vitest/node';
import { MODES } from '../helpers/harness/mode.ts';

const [mode = 'gate', ...filters] = process.argv.slice(2);
if (!(MODES as readonly string[]).includes(mode)) {
  process.stderr.write(`usage: node scripts/runbook.ts gate|plan|fix [spec filter…]\n`);
  process.exit(2);
}
process.env.RUNBOOK_MODE = mode;
const vitest = await startVitest(filters, {
  project: ['runbook'],
  watch: false,
  reporters: [
    ['./specs/setup/reporter.ts', {}],
    [
      'junit',
      { outputFile: process.env.RUNBOOK_JUNIT_FILE ?? '.vitest/junit/output.xml', includeConsoleOutput: false },
    ],
  ],
});
await vitest?.close();
process.exit(process.exitCode ?? (vitest?.state.getCountOfFailedTests() ? 1 : 0));
