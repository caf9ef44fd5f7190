/**
 * One shape for every fix-up, declared once beside the claim it repairs:
 *   describe — the exact actions, from what was observed (pure; plan prints exactly these);
 *   apply    — performs them, each write journaled (the journal refuses a write describe did not announce);
 *   settle   — waits until the effect shows and observes again.
 * Only the harness decides, from the mode, whether a fix-up is printed, applied, or left alone.
 */
import { type Journal, type JournalAction, journalTarget } from '../journal.ts';
import type { RunbookContext } from './context.ts';

/** One action a fix-up takes: what kind of write, on what, for which node, in the operator's words. */
export interface PlannedAction {
  /** The journal kind of the write (put-secret, rematerialise-node-secrets, …), or `wait` for none. */
  kind: JournalAction['kind'] | 'wait';
  /** What it writes: a secret name, an instance id; for `wait`, what it waits for. */
  target: string;
  /** The node it belongs to, when it belongs to one (its claim shows it). */
  node?: number;
  /** The exact action as plan prints it (values by reference, never inline). */
  text: string;
}

/** What apply and settle may use: the context, a journal that takes only announced writes, a voice. */
export interface FixUpIO {
  ctx: RunbookContext;
  step: string;
  journal: Journal;
  /** Record what happened to an action (shown on that node's claim). */
  done(action: PlannedAction, outcome: string): void;
  /** Say what a long wait sees now (printed at least every few seconds). */
  progress(line: string): void;
}

export interface FixUp<E, A extends PlannedAction = PlannedAction> {
  name: string;
  describe(evidence: E, ctx: RunbookContext): A[];
  apply(actions: A[], io: FixUpIO): Promise<void>;
  settle(actions: A[], io: FixUpIO): Promise<E>;
}

export const defineFixUp = <E, A extends PlannedAction>(fixUp: FixUp<E, A>): FixUp<E, A> => fixUp;

/** A fix-up that writes nothing and only waits for what is already under way. */
export const noWrites = async (): Promise<void> => {};

export class UnannouncedWriteError extends Error {}

/**
 * The journal a fix-up's apply gets: it takes an intent only for an action that describe announced,
 * so plan (which prints describe) and fix (which runs apply) cannot drift apart.
 */
export function announcedOnly(journal: Journal, fixUp: string, announced: PlannedAction[]): Journal {
  return {
    path: journal.path,
    intent(step, action) {
      const target = journalTarget(action);
      if (!announced.some((a) => a.kind === action.kind && a.target === target)) {
        const listed = announced.map((a) => `${a.kind} ${a.target}`).join(', ') || 'nothing';
        throw new UnannouncedWriteError(
          `refused: fix-up ${fixUp} tried to write ${action.kind} ${target}, which its plan did not announce ` +
            `(announced: ${listed}); nothing was written for it`,
        );
      }
      return journal.intent(step, action);
    },
    done: (ref, result) => journal.done(ref, result),
    failed: (ref, error) => journal.failed(ref, error),
  };
}
