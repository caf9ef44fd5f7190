/**
 * The runbook starts from Node's compile cache: `npm run runbook` turns it on from the entry file, and each
 * step loads by its own URL (specs/setup/step-modules.ts), so once the cache is warm no run type-strips a
 * file again (the stripper alone costs ~0.15 CPU-s per process) or adds a step to the cache.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { type RunResult, workspace } from './runbook-runs.ts';

const root = join(import.meta.dirname, '..', '..');
const STEPS = [
  '00-preflight',
  '01-keys-match',
  '02-secrets-restored',
  '03-nodes-healthy',
  '04-contract-running',
  '05-parity-views',
];

/** `npm run runbook` as npm runs it (its script line through sh), with Node's compile-cache log on stderr. */
function npmRunRunbook(env: Record<string, string>): Promise<RunResult> {
  const script = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts.runbook!;
  const child = spawn('sh', ['-c', script], {
    cwd: root,
    env: { ...process.env, ...env, PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  return new Promise((ok) => child.on('close', (code) => ok({ code, output })));
}

test('a second run type-strips nothing: the entry file and every step come from the compile cache', async () => {
  // A target that is not one: 00-preflight stops at once, and every step is still loaded.
  const env = { ...workspace().env, NODE_DEBUG_NATIVE: 'COMPILE_CACHE', RUNBOOK_TARGET: 'cloud' };
  await npmRunRunbook(env); // warms the cache for this tree
  const r = await npmRunRunbook(env);
  expect(r.output).toContain('RUNBOOK_TARGET: "cloud" is not one of twin, aws');
  const served = (file: string) => `retrieving transpile cache for StrippedTypeScript file://${root}/${file}...success`;
  for (const file of ['scripts/runbook.ts', ...STEPS.map((s) => `specs/${s}.spec.ts`)]) {
    expect(r.output).toContain(served(file));
  }
  expect(r.output.match(/no transpile cache for StrippedTypeScript \S+/g) ?? []).toEqual([]);
});
