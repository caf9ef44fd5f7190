/**
 * Before the first step: pick a run id and, for target `twin`, start the embedded Layer 3 from
 * RUNBOOK_SCENARIO and hand its endpoints to the steps — the same variables an operator puts in
 * .env for a real deployment. A run that writes takes the cross-machine fix lock for the whole run
 * (00-preflight reports a refusal).
 */
import { randomBytes } from 'node:crypto';
import { config as loadDotenv } from 'dotenv';
import type { TestProject } from 'vitest/node';
import { classified } from '../../helpers/errors.ts';
import { acquireFixLock, type FixLock } from '../../helpers/aws/fix-lock.ts';
import { writes } from '../../helpers/harness/mode.ts';

export default async function setup(project: TestProject) {
  loadDotenv({ quiet: true });
  const runId =
    process.env.RUNBOOK_RUN_ID ?? `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
  project.provide('runId', runId);
  const stops: (() => Promise<void>)[] = [];
  let env: Record<string, string> = {};
  if ((process.env.RUNBOOK_TARGET ?? 'twin') === 'twin') {
    const { startTwin } = await import('../../twin/start.ts');
    const twin = await startTwin({
      scenario: process.env.RUNBOOK_SCENARIO ?? 'incident-key-mismatch',
      ...(process.env.RUNBOOK_TWIN_BLOCK_MS ? { blockTimeMs: Number(process.env.RUNBOOK_TWIN_BLOCK_MS) } : {}),
    });
    stops.push(() => twin.stop());
    env = twin.env;
  }
  project.provide('runbookEnv', env);
  let lock: FixLock | undefined;
  let fixLockRefused = '';
  if (writes()) {
    const merged = { ...process.env, ...env };
    // A refused lock is a red preflight claim (so every repair step is skipped), not a crash.
    try {
      lock = await acquireFixLock(merged, runId);
    } catch (e) {
      const region = merged.AWS_REGION ?? '?';
      const reason = /holds the lock/.test((e as Error).message)
        ? (e as Error)
        : classified(e, {
            system: `the fix lock (AWS Secrets Manager in ${region})`,
            setting: 'AWS_REGION, AWS_PROFILE and AWS_ENDPOINT_URL',
          });
      fixLockRefused = reason.message;
    }
  }
  project.provide('fixLockRefused', fixLockRefused);
  return async () => {
    await lock?.release();
    for (const s of stops.reverse()) await s();
  };
}
