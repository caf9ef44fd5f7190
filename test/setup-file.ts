/**
 * Run before each test file (vitest.config.ts, setupFiles). A worker runs many files in one module graph
 * (isolate: false), so what a file must undo when it ends is registered here, for every file, rather than
 * when a helper module is first imported.
 */
import { afterAll } from 'vitest';
import { removeTempDirs } from './temp-dir.ts';

afterAll(removeTempDirs);
