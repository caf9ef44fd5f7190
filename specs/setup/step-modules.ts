/**
 * Preloaded into the runbook's Vitest worker (`--import`, vitest.config.ts): the first time a step is
 * imported, it loads by its own URL. Vitest imports each step as `<file>?vitest=<time>` (so that a re-run in
 * watch mode loads it afresh), and Node's compile cache keys a type-stripped file by its URL: every run
 * missed the cache for all six steps, loaded Node's TypeScript stripper for them (~0.15 CPU-s) and stored
 * twelve cache files (23 kB) that no later run could read. Now only the one-line module below is stored per
 * step (0.6 kB).
 */
import { registerHooks } from 'node:module';

const STEP_IMPORT = /^(file:\/\/.*\/specs\/[^/?]+\.spec\.ts)\?vitest=\d+$/;
const loaded = new Set<string>();

registerHooks({
  load(url, context, next) {
    const step = STEP_IMPORT.exec(url)?.[1];
    if (!step || loaded.has(step)) return next(url, context); // a re-run (watch mode) loads the step afresh
    loaded.add(step);
    return { format: 'module', source: `import ${JSON.stringify(step)};`, shortCircuit: true };
  },
});
