/**
 * The apply shape the node repairs share: one SSM command across the instances of their actions, each
 * instance's outcome journaled against the intent written before it — done with what the script reported,
 * or failed with why — and the actions whose command did not succeed handed back, with where and why.
 */
import { describeOutcome, runOn } from '../aws/ssm.ts';
import type { FixUpIO, PlannedAction } from '../harness/fix-up.ts';

export interface JournaledRun<P> {
  /** The script (reviewed POSIX shell; never a secret). */
  script: string[];
  /** The SSM command's comment (what the operator finds in the command history). */
  comment: string;
  /** What the script reported on one instance, or undefined when its output is not the expected one. */
  parse: (stdout: string) => P | undefined;
  /** The sentence for a node where it succeeded. */
  said: (action: PlannedAction, reported: P) => string;
}

/** Run `run.script` on every action's instance; `refs` holds each instance's journal intent. */
export async function runJournaledOnNodes<P extends Record<string, unknown>>(
  actions: PlannedAction[],
  refs: Map<string, number>,
  io: FixUpIO,
  run: JournaledRun<P>,
): Promise<{ failed: PlannedAction[]; where: string[] }> {
  const results = await runOn(
    io.ctx.ssm,
    actions.map((a) => a.target),
    run.script,
    { timeoutS: io.ctx.config.RUNBOOK_SSM_TIMEOUT_S, comment: run.comment, progress: io.progress },
  );
  for (const a of actions) {
    const res = results.get(a.target);
    const reported = res && run.parse(res.stdout);
    if (res?.status === 'Success' && reported) {
      io.journal.done(refs.get(a.target)!, { ...reported });
      io.done(a, run.said(a, reported));
    } else io.journal.failed(refs.get(a.target)!, new Error(describeOutcome(res)));
  }
  const failed = actions.filter((a) => results.get(a.target)?.status !== 'Success');
  const where = failed.map((a) => `mpc-node-${a.node} (${a.target}): ${describeOutcome(results.get(a.target))}`);
  return { failed, where };
}
