/**
 * The step harness the specs stand on. `runbookStep(name, observe)` opens one step of the plan:
 * it decides (once, at collection) whether the step can run — a prerequisite that failed earlier in
 * this run skips it with the reason; a context that cannot be built fails its first claim with the
 * reason — and gives the spec a Vitest `test` whose fixtures carry the step, its context, its
 * evidence (observed once per file) and `claim`, which checks one claim and, by the mode, leaves it
 * red (gate), prints its fix-up's exact actions (plan), or applies them and checks again (fix).
 */
import { afterAll, beforeEach, test as vitestTest } from 'vitest';
import type { DiscoveredNode } from '../aws/cloudformation.ts';
import { redactor } from '../redact.ts';
import { type RunbookContext, runbookContext } from './context.ts';
import type { FixUp, PlannedAction } from './fix-up.ts';
import { fixUpAction, prerequisitesOf, sharesObservations } from './mode.ts';
import { type Claimant, claimant } from './claim.ts';
import { oncePerRun, readStepOutcomes, recordStepOutcome } from './run-state.ts';

export interface Step {
  name: string;
  /** Why this step does not run: a prerequisite failed earlier in this run (its claims are skipped). */
  skippedBecause?: string;
  /** Why this step cannot run on its own (its first claim fails with the reason). */
  blockedBecause?: string;
  ctx?: RunbookContext;
}

/** What a step observed, or why it could not observe (the first claim is red with it). */
export type Observation<E> = { evidence: E } | { error: string };

function skippedByPrerequisite(name: string): string | undefined {
  const earlier = readStepOutcomes();
  const failed = prerequisitesOf(name).find((p) => earlier[p] && !earlier[p].ok);
  if (!failed) return undefined;
  const e = earlier[failed]!;
  if (e.skipped) return `${failed} was skipped earlier in this run`;
  return `${failed} failed earlier in this run (${e.failed.length} claim${e.failed.length === 1 ? '' : 's'} red)`;
}

/** Open a step at collection time and record its outcome when the file ends. */
async function openStep(name: string): Promise<Step> {
  const failed: string[] = [];
  beforeEach(({ onTestFailed, task }) => onTestFailed(() => void failed.push(task.name)));
  const skippedBecause = skippedByPrerequisite(name);
  afterAll(() => recordStepOutcome(name, failed, skippedBecause));
  if (skippedBecause) return { name, skippedBecause };
  try {
    return { name, ctx: await runbookContext() };
  } catch (e) {
    return { name, blockedBecause: redactor.redactError(e).message };
  }
}

async function observeOnce<E>(step: Step, observe: (ctx: RunbookContext) => Promise<E>): Promise<Observation<E>> {
  if (!step.ctx) return { error: step.blockedBecause ?? step.skippedBecause ?? 'no context' };
  const ctx = step.ctx;
  try {
    // Gate and plan share one observation across the run's steps; fix observes afresh per step.
    const name = `observation-${observe.name || 'step'}.json`;
    return { evidence: await oncePerRun(name, () => observe(ctx), sharesObservations()) };
  } catch (e) {
    return { error: `observing failed: ${redactor.redactError(e).message}` };
  }
}

const nothingToObserve = async () => undefined;

/**
 * One step of the runbook. `observe` gathers the step's evidence (once per file); `nodes` is the
 * deployment's node list, read once at collection time for `test.for(nodes)`.
 */
export async function runbookStep<E = undefined>(
  name: string,
  observe: (ctx: RunbookContext) => Promise<E> = nothingToObserve as () => Promise<E>,
) {
  const step = await openStep(name);
  const fixUps = new Map<FixUp<E, PlannedAction>, Promise<E>>(); // applied once per file
  const test = vitestTest
    .extend('step', { scope: 'file' }, () => step)
    .extend('observation', { scope: 'file' }, ({ step }) => observeOnce(step, observe))
    .extend('ctx', ({ step, skip }) => {
      if (step.skippedBecause) skip(`skipped: ${step.skippedBecause}`);
      if (!step.ctx) skip(`not checked: ${step.name} could not start (see "prerequisites hold")`);
      return step.ctx as RunbookContext;
    })
    .extend('evidence', ({ observation, skip }) => {
      if ('error' in observation) skip(`not checked: ${name} could not observe (see "prerequisites hold")`);
      return (observation as { evidence: E }).evidence;
    })
    .extend(
      'claim',
      ({ ctx, evidence, annotate }): Claimant<E> =>
        claimant({ step: name, ctx, evidence, annotate, action: fixUpAction(), fixUps }),
    );
  test('prerequisites hold', ({ step, observation, skip }) => {
    if (step.skippedBecause) skip(`skipped: ${step.skippedBecause}`);
    if (step.blockedBecause) throw new Error(step.blockedBecause);
    if ('error' in observation) throw new Error(observation.error);
  });
  const nodes: DiscoveredNode[] = step.ctx?.deployment.nodes ?? [];
  return { test, nodes, config: step.ctx?.config };
}
