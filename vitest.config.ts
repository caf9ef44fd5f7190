import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { runbookReporters } from './specs/setup/reporters.ts';

/**
 * The end-to-end matrices, which `npm run test:matrix` runs (CI runs it after npm test): the redaction
 * matrix (every scenario × gate/plan/fix); the failure-mode catalogue (each catalogued mode's gate, plan
 * and fix on its own twin, writes counted: the contract, keys and secrets modes, the Initializing blockers,
 * the secret shapes); the faults injected into a fix beyond the first (killed, offline, crash loop, SSM
 * failed, NEAR base lost). npm test keeps the runbook end to end on the repair plan's own scenarios (healthy,
 * the incident, stale node secrets), a fix interrupted and run again (faults.test.ts), every mode's and
 * fault's twin tests, and the unit tests.
 */
const MATRIX = [
  'test/runbook/redaction-matrix.test.ts',
  'test/runbook/catalogue-*.test.ts',
  'test/runbook/blockers-*.test.ts',
  'test/runbook/secret-shapes.test.ts',
  'test/runbook/faults-*.test.ts',
];

/**
 * The test projects' workers each run many files in one module graph (the twin, the AWS SDK, near-api-js
 * load once per worker, not once per file: 18 % less CPU over test/unit and test/twin). Tests share no state
 * through modules; what a file must undo at its end is in the setup file, which runs for every file.
 */
const TEST_WORKERS = { isolate: false, setupFiles: ['test/setup-file.ts'] };

/** The runbook's steps run in file-name order (00-preflight, 01-keys-match, …), never by history. */
class PlanOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId));
  }
}

/**
 * `vitest run specs/` (or `--project runbook`) is the user's own way to run the gate: it gets the same
 * report and JUnit file as `npm run runbook`. Every other run (npm test) keeps Vitest's reporter.
 */
const runbookRun = process.argv
  .slice(2)
  .some(
    (a, i, all) =>
      /^specs(\/|$)/.test(a) || (all[i - 1] === '--project' && a === 'runbook') || a === '--project=runbook',
  );

export default defineConfig({
  test: {
    ...(runbookRun ? { reporters: runbookReporters() } : {}),
    // Vitest takes the sequencer from the root config only; name order is right for both projects.
    sequence: { sequencer: PlanOrder },
    projects: [
      {
        test: {
          name: 'runbook',
          include: ['specs/**/*.spec.ts'],
          globalSetup: ['specs/setup/global-setup.ts'],
          fileParallelism: false,
          // The steps run one after another in one worker that loads the module graph (AWS SDK, near-api-js)
          // once, natively (Node strips the types; nothing here needs Vite's transforms or vi.mock). What a
          // run hands from step to step is on disk (harness/run-state.ts); each step keeps its own state in
          // closures, so a step still runs alone.
          isolate: false,
          // Each step loads by its own URL, so Node's compile cache serves it (specs/setup/step-modules.ts).
          execArgv: ['--import', pathToFileURL(join(import.meta.dirname, 'specs/setup/step-modules.ts')).href],
          experimental: { viteModuleRunner: false, nodeLoader: false },
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'tests',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...MATRIX],
          ...TEST_WORKERS,
          testTimeout: 600_000,
          hookTimeout: 600_000,
          maxWorkers: 3,
        },
      },
      {
        test: {
          name: 'matrix',
          include: MATRIX,
          ...TEST_WORKERS,
          testTimeout: 600_000,
          hookTimeout: 600_000,
          maxWorkers: 3,
        },
      },
    ],
  },
});
