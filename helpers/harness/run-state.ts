/**
 * What one run keeps on disk under RUNBOOK_STATE_DIR/<runId>/ so its steps (each a Vitest file in a
 * fresh module scope) can hand facts to the next: each step's outcome, the discovered deployment,
 * the shared observation of gate/plan runs, and the actions plan announced. Public data only.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

declare module 'vitest' {
  interface ProvidedContext {
    runbookEnv: Record<string, string>;
    runId: string;
    /** The steps this run covers ("00-preflight,01-keys-match,…"; '' when the reporter did not say). */
    runSteps: string;
    /** The fix lock: 'refused: …' (this fix run could not take it), 'held: …' (a gate or plan saw
     * another run's), or '' (this fix run holds it; or nobody does). */
    fixLock: string;
    /** Why this run cannot go on against its target ('' when it can): a writing run whose target was not
     * chosen explicitly, or a twin that did not start. */
    targetRefusal: string;
  }
}

function injected<T>(read: () => T | undefined, fallback: () => T): T {
  try {
    return read() ?? fallback();
  } catch {
    return fallback(); // outside a runbook run (unit tests)
  }
}

export const runId = (): string =>
  injected(
    () => inject('runId'),
    () => process.env.RUNBOOK_RUN_ID ?? `run-${process.pid}`,
  );

/** Where the reporter leaves the run's steps for the global setup (one process; not an environment variable). */
export const RUN_STEPS = Symbol.for('mpc-runbook.runSteps');
export type RunStepsHolder = { [RUN_STEPS]?: string };

/** Whether this run covers a step (false when unknown: a run that cannot tell does nothing ahead of a step). */
export const runCovers = (step: string): boolean =>
  injected(
    () => inject('runSteps'),
    () => '',
  )
    .split(',')
    .includes(step);

/** The endpoints the global setup started (target twin), as an operator's .env would hold them. */
export const runEnv = (): Record<string, string> =>
  injected(
    () => inject('runbookEnv'),
    () => ({}),
  );

/** What the global setup of a fix run that took the fix lock leaves for the steps. */
export const FIX_LOCK_HELD = 'held by this run';

/** The fix lock as the global setup left it: FIX_LOCK_HELD or 'refused: …' in a fix run, '' in any other. */
export const fixLockState = (): string =>
  injected(
    () => inject('fixLock'),
    () => '',
  );

/** Why this run cannot go on against its target, if it cannot (nothing is checked or written then). */
export const targetRefusal = (): string =>
  injected(
    () => inject('targetRefusal'),
    () => '',
  );

export function runDir(): string {
  const dir = join(process.env.RUNBOOK_STATE_DIR ?? '.runbook/runs', runId());
  mkdirSync(dir, { recursive: true });
  return dir;
}

function readJson<T>(name: string): T | undefined {
  const f = join(runDir(), name);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as T) : undefined;
}

const writeJson = (name: string, value: unknown) => writeFileSync(join(runDir(), name), JSON.stringify(value, null, 1));

export interface StepOutcome {
  ok: boolean;
  failed: string[];
  skipped?: string;
}

export const readStepOutcomes = (): Record<string, StepOutcome> => readJson('steps.json') ?? {};

export function recordStepOutcome(step: string, failed: string[], skipped?: string) {
  const all = readStepOutcomes();
  all[step] = { ok: failed.length === 0 && !skipped, failed, ...(skipped ? { skipped } : {}) };
  writeJson('steps.json', all);
}

/** A value computed once per run (the deployment, a shared observation), kept in the run directory. */
export async function oncePerRun<T>(name: string, compute: () => Promise<T>, keep = true): Promise<T> {
  if (keep) {
    const cached = readJson<T>(name);
    if (cached !== undefined) return cached;
  }
  const value = await compute();
  if (keep && value !== undefined) writeJson(name, value);
  return value;
}

/** The actions a plan run announced, per step, in order — what a fix run must do and nothing else. */
export function recordPlannedActions(step: string, actions: { kind: string; target: string }[]) {
  const all = readJson<Record<string, { kind: string; target: string }[]>>('plan.json') ?? {};
  const seen = all[step] ?? [];
  for (const a of actions) if (!seen.some((s) => s.kind === a.kind && s.target === a.target)) seen.push(a);
  all[step] = seen;
  writeJson('plan.json', all);
}

/** The NEAR RPC found not answering earlier in this run (later calls fail at once instead of waiting again). */
export const rpcHealth = {
  downSince: (): string | undefined => readJson<{ reason: string }>('rpc-down.json')?.reason,
  markDown: (reason: string) => writeJson('rpc-down.json', { reason, at: new Date().toISOString() }),
};
