/**
 * The mode a run is in, and everything that depends on it — read here and nowhere else, so no claim,
 * probe or repair ever branches on it (the runbook's rule, as chaostoolkit keeps its dry-run flag in
 * the runner). gate observes; plan observes and prints what each fix-up would do; fix applies them.
 */
import { z } from 'zod';

export const MODES = ['gate', 'plan', 'fix'] as const;
export type Mode = (typeof MODES)[number];

const ModeSchema = z.enum(MODES);

/** The mode of this run (RUNBOOK_MODE, set by `npm run runbook|plan|fix`; gate when unset). */
export function currentMode(env: Record<string, string | undefined> = process.env): Mode {
  const raw = env.RUNBOOK_MODE || 'gate';
  const parsed = ModeSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`RUNBOOK_MODE: "${raw}" is not one of ${MODES.join(', ')}`);
  return parsed.data;
}

/** What a fix-up does in this mode: nothing (gate), print its actions (plan), or apply them (fix). */
export const fixUpAction = (mode = currentMode()): 'observe' | 'describe' | 'apply' =>
  mode === 'fix' ? 'apply' : mode === 'plan' ? 'describe' : 'observe';

/** Whether this run writes (and so takes the fix lock, checks the account, keeps a journal). */
export const writes = (mode = currentMode()) => mode === 'fix';

/**
 * Prerequisites of each step. Gate and plan observe every step independently (one run shows the
 * whole picture, and plan lists every action); fix repairs only on top of the steps before it, and
 * only when 01 found that every disagreement has a safe repair (a manifest that cannot settle one
 * node gets no partial repair of the others).
 */
const OBSERVE_PREREQUISITES: Record<string, string[]> = {
  '01-keys-match': ['00-preflight'],
  '02-secrets-restored': ['00-preflight'],
  '03-nodes-healthy': ['00-preflight'],
  '04-contract-running': ['00-preflight'],
  '05-parity-views': ['00-preflight', '04-contract-running'],
};
const FIX_PREREQUISITES: Record<string, string[]> = {
  '01-keys-match': ['00-preflight'],
  '02-secrets-restored': ['00-preflight', '01-keys-match'],
  '03-nodes-healthy': ['00-preflight', '01-keys-match', '02-secrets-restored'],
  '04-contract-running': ['00-preflight', '03-nodes-healthy'],
  '05-parity-views': ['00-preflight', '04-contract-running'],
};

export const prerequisitesOf = (step: string, mode = currentMode()): string[] =>
  (writes(mode) ? FIX_PREREQUISITES : OBSERVE_PREREQUISITES)[step] ?? [];

/**
 * Gate and plan write nothing, so every step of a run can share one observation; fix observes
 * afresh, since each step may have changed what the next one sees.
 */
export const sharesObservations = (mode = currentMode()) => !writes(mode);

/** How long a step waits for what is already under way: fix waits for its repairs to take effect. */
export const waitsForRepairs = (mode = currentMode()) => writes(mode);

/** The claim's title in this mode, when a step asserts something else while repairing. */
export const titleFor = (titles: { observe: string; fix: string }, mode = currentMode()) =>
  writes(mode) ? titles.fix : titles.observe;

/** The command an operator runs next, from this run's verdict. */
export function nextCommand(o: { green: boolean; preflightRed: boolean; partial: boolean }, mode = currentMode()) {
  if (o.preflightRed) {
    return (
      'make 00-preflight pass first (configuration, credentials, reachability: see its failures above); ' +
      'no repair step ran, nothing was written'
    );
  }
  if (o.green && o.partial) return 'npm run runbook   # every step, for a verdict on the Layer 3';
  if (o.green) return mode === 'fix' ? 'npm run runbook   # confirm with a read-only gate' : 'nothing to do';
  if (mode === 'gate') return 'npm run plan      # see exactly what the fix-ups would do';
  if (mode === 'plan') return 'npm run fix       # apply the fix-ups (journaled)';
  return 'read the failures above; the journal under .runbook/journal/ lists every write (npm run rollback)';
}

/** The check a claim makes in this mode, when a step asserts something else while repairing. */
export const byMode = <T>(checks: { observe: T; fix: T }, mode = currentMode()): T =>
  writes(mode) ? checks.fix : checks.observe;
