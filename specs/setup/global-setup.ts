/**
 * Before the first step: pick a run id, say what this run checks, and — for target `twin` — start the
 * embedded Layer 3 from RUNBOOK_SCENARIO and hand its endpoints to the steps (the same variables an
 * operator puts in .env for a real deployment). A run that writes needs its target chosen explicitly
 * and takes the cross-machine fix lock for the whole run, but only after the configuration and the
 * caller's account and region are verified; a refusal is a red 00-preflight claim, never a crash.
 */
import { randomBytes } from 'node:crypto';
import { config as loadDotenv } from 'dotenv';
import type { TestProject } from 'vitest/node';
import type { FixLock } from '../../helpers/aws/fix-lock.ts';
import { currentMode, writes } from '../../helpers/harness/mode.ts';
import { FIX_LOCK_HELD, RUN_STEPS, type RunStepsHolder } from '../../helpers/harness/run-state.ts';
import { targetOf, writeRefusal } from '../../helpers/target.ts';

const newRunId = () => `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;

async function startChosenTwin(): Promise<{ env: Record<string, string>; stop?: () => Promise<void> }> {
  if (targetOf(process.env).kind !== 'twin') return { env: {} };
  const { startTwin } = await import('../../twin/start.ts');
  const twin = await startTwin({
    scenario: process.env.RUNBOOK_SCENARIO || 'incident-key-mismatch',
    ...(process.env.RUNBOOK_TWIN_BLOCK_MS ? { blockTimeMs: Number(process.env.RUNBOOK_TWIN_BLOCK_MS) } : {}),
  });
  // The twin's endpoints, with RUNBOOK_TARGET as the operator chose it (twin), not the export block's aws.
  return { env: { ...twin.env, RUNBOOK_TARGET: 'twin' }, stop: () => twin.stop() };
}

/**
 * The fix lock, taken only once the configuration, account and region are the expected ones. Only a run
 * that writes loads the AWS SDK in this process (a gate or plan reads who holds the lock in 00-preflight).
 */
async function takeFixLock(env: Record<string, string | undefined>, runId: string) {
  const [{ acquireFixLock }, { assertWritable }, { loadConfig }, { classified }] = await Promise.all([
    import('../../helpers/aws/fix-lock.ts'),
    import('../../helpers/aws/sts.ts'),
    import('../../helpers/config.ts'),
    import('../../helpers/errors.ts'),
  ]);
  try {
    await assertWritable(loadConfig(env));
  } catch (e) {
    return { refused: `the fix lock was not taken: ${(e as Error).message.split('\n')[0]}` };
  }
  try {
    return { lock: await acquireFixLock(env, runId) };
  } catch (e) {
    const region = env.AWS_REGION ?? '?';
    const reason = /holds the lock/.test((e as Error).message)
      ? (e as Error)
      : classified(e, {
          system: `the fix lock (AWS Secrets Manager in ${region})`,
          setting: 'AWS_REGION, AWS_PROFILE and AWS_ENDPOINT_URL',
        });
    return { refused: reason.message };
  }
}

export default async function setup(project: TestProject) {
  loadDotenv({ quiet: true });
  const runId = process.env.RUNBOOK_RUN_ID || newRunId();
  process.env.RUNBOOK_RUN_ID = runId; // the reporter (this process) finds the run's state by it
  project.provide('runId', runId);
  project.provide('runSteps', (globalThis as RunStepsHolder)[RUN_STEPS] ?? '');
  process.stdout.write(`\nmpc-runbook ${currentMode()} — target: ${targetOf(process.env).says}\n`);
  let refusal = writes() ? writeRefusal(process.env, 'fix') : undefined;
  // A twin that cannot start (a misspelt RUNBOOK_SCENARIO) leaves nothing to check: 00-preflight says why.
  const twin = refusal
    ? { env: {} }
    : await startChosenTwin().catch((e: Error) => {
        refusal = `the embedded twin did not start: ${e.message.split('\n')[0]}`;
        return { env: {} };
      });
  project.provide('targetRefusal', refusal ?? '');
  project.provide('runbookEnv', twin.env);
  const env = { ...process.env, ...twin.env };
  let lock: FixLock | undefined;
  let fixLock = '';
  if (writes() && !refusal) {
    const taken = await takeFixLock(env, runId);
    lock = taken.lock;
    fixLock = taken.refused ? `refused: ${taken.refused}` : FIX_LOCK_HELD;
  }
  project.provide('fixLock', fixLock);
  return async () => {
    await lock?.release();
    await twin.stop?.();
  };
}
