/**
 * The fix lock against the twin's Secrets Manager with the deletion window on: a forced deletion
 * frees the name only after a delay, so a new lock right after a release, and the takeover of an
 * expired lock, back off (bounded) instead of failing with "…scheduled for deletion.".
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { acquireFixLock, breakFixLock, LOCK_NAME } from '../../helpers/aws/fix-lock.ts';
import type { AwsEndpoint } from '../../twin/aws/server.ts';
import { fakeHost, REGION, startTestEndpoint } from './aws-support.ts';

describe('the fix lock while Secrets Manager deletes asynchronously', () => {
  const host = fakeHost([]);
  let aws: AwsEndpoint;
  let env: Record<string, string>;
  beforeAll(async () => {
    aws = await startTestEndpoint(host);
    aws.secrets.forceDeleteDelayMs = 600;
    env = {
      AWS_ENDPOINT_URL: aws.url,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'AKIATWINTEST',
      AWS_SECRET_ACCESS_KEY: 'twin-test-secret',
    };
  });
  afterAll(async () => {
    await aws.stop();
    host.cleanup();
  });
  const creates = () => aws.stats().secretsmanager?.CreateSecret ?? 0;
  const fast = { initialDelayMs: 50, maxDelayMs: 200, maxWaitMs: 20_000 };

  test('a new lock right after a release waits for the name to come free, then holds it', async () => {
    const first = await acquireFixLock(env, 'run-one', 60_000, fast);
    await first.release();
    expect(aws.secrets.scheduledForDeletion(LOCK_NAME)).toBe(true); // the window is on
    aws.resetStats();
    const second = await acquireFixLock(env, 'run-two', 60_000, fast);
    expect(creates()).toBeGreaterThan(1); // it met "scheduled for deletion" and backed off
    expect(JSON.parse(aws.secrets.current(LOCK_NAME)!).runId).toBe('run-two');
    await expect(acquireFixLock(env, 'run-three', 60_000, fast)).rejects.toThrow(
      /another fix run holds the lock: run run-two/,
    );
    await second.release();
  });

  test('an expired lock is taken over: delete, back off through the window, create', async () => {
    await acquireFixLock(env, 'crashed-run', -1, fast); // already expired, never released
    aws.resetStats();
    const taker = await acquireFixLock(env, 'run-after-crash', 60_000, fast);
    expect(aws.stats().secretsmanager?.DeleteSecret).toBe(1);
    expect(creates()).toBeGreaterThan(2); // exists → deleting… → created
    expect(JSON.parse(aws.secrets.current(LOCK_NAME)!).runId).toBe('run-after-crash');
    await taker.release();
  });

  test('unlock while the lock is being deleted: nothing is held', async () => {
    const held = await acquireFixLock(env, 'run-unlock', 60_000, fast);
    await held.release();
    expect(await breakFixLock(env, 'run-unlock')).toBe('not-held');
  });

  test('the back-off is bounded: a window longer than the bound fails with the reason', async () => {
    const held = await acquireFixLock(env, 'run-slow', 60_000, fast);
    aws.secrets.forceDeleteDelayMs = 60_000;
    try {
      await held.release();
      await expect(acquireFixLock(env, 'run-impatient', 60_000, { ...fast, maxWaitMs: 300 })).rejects.toThrow(
        /could not take the fix lock: mpc-runbook\/fix-lock was still being deleted after 0 s .*Run fix again/,
      );
    } finally {
      aws.secrets.forceDeleteDelayMs = 600;
      aws.secrets.remove(LOCK_NAME);
    }
  });
});
