/**
 * A claim checked by the harness: the check turns the step's evidence into a verdict (evidence text,
 * warnings, problems); the mode decides what a red verdict leads to — nothing more (gate), the fix-up's
 * exact actions (plan), or the fix-up applied once for the whole step, settled, and the same check
 * again (fix). Every write goes through a journal that takes only what describe announced.
 */
import { expect } from 'vitest';
import { assertWritable } from '../aws/sts.ts';
import { explain } from '../explain.ts';
import type { RunbookContext } from './context.ts';
import { announcedOnly, type FixUp, type FixUpIO, type PlannedAction } from './fix-up.ts';
import { recordPlannedActions } from './run-state.ts';

/** One thing that does not hold, in the operator's words; a finding of diagnosis.ts fits. */
export interface Problem {
  message: string;
  place?: string;
  repair?: unknown;
  refusal?: string;
}

export interface Verdict {
  /** What was looked at (public data), attached to the claim. */
  evidence?: string;
  warnings?: string[];
  /** What the operator should see beside the claim even when it holds (e.g. which manifest was used). */
  notices?: string[];
  problems: Problem[];
  /** How the problems read as the claim's red message (default: one line each, or explained findings). */
  summary?: string;
}

export type Check<E> = (evidence: E, ctx: RunbookContext) => Verdict | Promise<Verdict>;

type Annotate = (message: string, type?: string) => Promise<unknown>;

interface ClaimSetting<E> {
  step: string;
  ctx: RunbookContext;
  evidence: E;
  annotate: Annotate;
  action: 'observe' | 'describe' | 'apply';
  fixUps: Map<FixUp<E, PlannedAction>, Promise<E>>;
  /** Before the first write: the account and region are the ones the configuration expects. */
  verifyWritable?: () => Promise<void>;
}

export interface ClaimOptions<E> {
  /** The fix-up that repairs what this claim finds. */
  fixUp?: FixUp<E, PlannedAction>;
  /** The node this claim is about: its actions are the ones shown beside it. */
  node?: number;
}

export type Claimant<E> = (check: Check<E>, options?: ClaimOptions<E>) => Promise<void>;

const sentence = (v: Verdict) =>
  v.summary ??
  (v.problems.some((p) => p.place) ? explain(v.problems as never) : v.problems.map((p) => p.message).join('\n'));

const mine = (actions: PlannedAction[], node: number | undefined) =>
  actions.filter((a) => node === undefined || a.node === undefined || a.node === node);

/** Outcomes of applied actions, per fix-up, shared by the claims of one step. */
const outcomes = new WeakMap<FixUp<never, PlannedAction>, Map<PlannedAction, string>>();

function fixUpIO<E>(s: ClaimSetting<E>, fixUp: FixUp<E, PlannedAction>, announced: PlannedAction[]): FixUpIO {
  const done = new Map<PlannedAction, string>();
  outcomes.set(fixUp as FixUp<never, PlannedAction>, done);
  let lastSaid = 0;
  return {
    ctx: s.ctx,
    step: s.step,
    journal: announcedOnly(s.ctx.journal(), fixUp.name, announced),
    done: (action, outcome) => void done.set(action, outcome),
    progress: (line) => {
      if (Date.now() - lastSaid < 4_000) return;
      lastSaid = Date.now();
      void s.annotate(line, 'progress');
    },
  };
}

/** Apply a fix-up once for the whole step (the first claim that needs it), then observe again. */
function appliedOnce<E>(s: ClaimSetting<E>, fixUp: FixUp<E, PlannedAction>): Promise<E> {
  let settled = s.fixUps.get(fixUp);
  if (!settled) {
    settled = (async () => {
      const actions = fixUp.describe(s.evidence, s.ctx);
      const io = fixUpIO(s, fixUp, actions);
      const verify = s.verifyWritable ?? (() => assertWritable(s.ctx.config));
      if (actions.some((a) => a.kind !== 'wait')) await verify();
      await fixUp.apply(actions, io);
      return fixUp.settle(actions, io);
    })();
    s.fixUps.set(fixUp, settled);
  }
  return settled;
}

async function annotateVerdict(s: ClaimSetting<unknown>, v: Verdict) {
  if (v.evidence) await s.annotate(v.evidence, 'evidence');
  for (const w of v.warnings ?? []) await s.annotate(w, 'warning');
  for (const n of v.notices ?? []) await s.annotate(n, 'notice');
}

export function claimant<E>(s: ClaimSetting<E>): Claimant<E> {
  return async (check, options = {}) => {
    const first = await check(s.evidence, s.ctx);
    await annotateVerdict(s as ClaimSetting<unknown>, first);
    if (first.problems.length === 0) return;
    const { fixUp, node } = options;
    if (!fixUp || s.action === 'observe') {
      if (s.action !== 'observe') await s.annotate(sentence(first), 'diagnosis');
      expect.fail(sentence(first));
    }
    if (s.action === 'describe') {
      const actions = mine(fixUp.describe(s.evidence, s.ctx), node);
      recordPlannedActions(s.step, actions);
      for (const a of actions) await s.annotate(a.text, 'plan');
      expect.fail(sentence(first));
    }
    const settled = await appliedOnce(s, fixUp);
    const done = outcomes.get(fixUp as FixUp<never, PlannedAction>) ?? new Map();
    for (const [a, outcome] of done) if (mine([a], node).length) await s.annotate(outcome, 'fix');
    const again = await check(settled, s.ctx);
    if (again.evidence && again.evidence !== first.evidence) await s.annotate(again.evidence, 'evidence');
    if (again.problems.length) expect.fail(`after the fix-up:\n${sentence(again)}`);
  };
}
