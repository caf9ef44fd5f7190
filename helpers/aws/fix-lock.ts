/**
 * One fix run at a time, across machines: a lock built on Secrets Manager (already in play and
 * shared by every operator's laptop and CI). CreateSecret is atomic on the name; the value says who
 * holds it and until when, so a crashed run does not block forever.
 *
 * Secrets Manager frees a name only some time after DeleteSecret(ForceDeleteWithoutRecovery): a
 * CreateSecret in between fails with InvalidRequestException ("…already scheduled for deletion.").
 * Taking over an expired lock, and taking a lock right after a release, back off and retry within
 * a bound (AWS: "use appropriate back off and retry").
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

export const LOCK_NAME = 'mpc-runbook/fix-lock';

export interface FixLock {
  release(): Promise<void>;
}

/** Who holds the lock: the run, its host and process, since and until when. */
export type LockHolder = Holder;

interface Holder {
  runId: string;
  host: string;
  since?: string;
  pid: number;
  expiresAt: string;
}

function lockClient(env: Record<string, string | undefined>): SecretsManagerClient {
  const region = env.AWS_REGION;
  if (!region) throw new Error('AWS_REGION: is not set (needed for the fix lock)');
  const endpoint = env.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? env.AWS_ENDPOINT_URL;
  const credentials =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY }
      : undefined;
  return new SecretsManagerClient({
    region,
    maxAttempts: 4,
    ...(endpoint ? { endpoint } : {}),
    ...(credentials ? { credentials } : {}),
  });
}

/** Bounds of the wait while Secrets Manager finishes deleting the lock (it deletes asynchronously). */
export interface LockBackoff {
  /** Give up after this long (default 60 s). */
  maxWaitMs?: number;
  /** First pause (default 250 ms), doubling up to `maxDelayMs` (default 4 s). */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * The name is still taken by a lock whose forced deletion has not completed (a release or a
 * takeover just happened): CreateSecret answers InvalidRequestException "…scheduled for deletion."
 * and reads answer "…marked for deletion."
 */
export function isDeletionInProgress(e: unknown): boolean {
  const err = e as { name?: string; message?: string };
  return err?.name === 'InvalidRequestException' && /(scheduled|marked) for deletion/.test(err.message ?? '');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function acquireFixLock(
  env: Record<string, string | undefined>,
  runId: string,
  ttlMs = 30 * 60_000,
  backoff: LockBackoff = {},
): Promise<FixLock> {
  const sm = lockClient(env);
  const me: Holder = {
    runId,
    host: hostname(),
    pid: process.pid,
    since: new Date().toISOString(),
    expiresAt: new Date(Date.now() + ttlMs).toISOString(),
  };
  const maxWaitMs = backoff.maxWaitMs ?? 60_000;
  const deadline = Date.now() + maxWaitMs;
  let delay = backoff.initialDelayMs ?? 250;
  let tookOver = false;
  for (;;) {
    const outcome = await tryCreate(sm, me);
    if (outcome === 'created') return { release: () => releaseIfMine(sm, runId) };
    if (outcome !== 'deleting') {
      // The lock exists: a live holder refuses us; an expired one is taken over (once).
      if (Date.parse(outcome.expiresAt) > Date.now()) throw new Error(heldMessage(outcome));
      if (tookOver) throw new Error(`could not take the fix lock: run ${outcome.runId} took it over first`);
      tookOver = true;
      await forceDelete(sm);
      continue;
    }
    // The name is being freed: back off (bounded) and try again.
    if (Date.now() + delay > deadline)
      throw new Error(
        `could not take the fix lock: ${LOCK_NAME} was still being deleted after ${Math.round(maxWaitMs / 1000)} s ` +
          '(Secrets Manager deletes asynchronously). Run fix again in a minute.',
      );
    await sleep(delay);
    delay = Math.min(backoff.maxDelayMs ?? 4000, delay * 2);
  }
}

/** CreateSecret of the lock: created, the current holder, or "the name is still being freed". */
async function tryCreate(sm: SecretsManagerClient, me: Holder): Promise<'created' | 'deleting' | Holder> {
  try {
    await sm.send(
      new CreateSecretCommand({
        Name: LOCK_NAME,
        SecretString: JSON.stringify(me),
        ClientRequestToken: randomUUID(),
        Description: 'mpc-runbook: one fix run at a time',
      }),
    );
    return 'created';
  } catch (e) {
    if (isDeletionInProgress(e)) return 'deleting';
    if ((e as Error).name !== 'ResourceExistsException') throw e;
  }
  const cur = await sm.send(new GetSecretValueCommand({ SecretId: LOCK_NAME })).catch((e: Error) => {
    if (isDeletionInProgress(e) || e.name === 'ResourceNotFoundException') return undefined; // released meanwhile
    throw e;
  });
  return cur ? (JSON.parse(cur.SecretString ?? '{}') as Holder) : 'deleting';
}

function heldMessage(holder: Holder): string {
  return (
    `another fix run holds the lock: run ${holder.runId} on ${holder.host} (pid ${holder.pid}) ` +
    `until ${holder.expiresAt}. ` +
    'Wait for it. If that run is dead (killed, crashed), the lock expires by itself, or release it now with ' +
    `\`npm run unlock -- ${holder.runId}\` and run fix again: the journal of run ${holder.runId} lists what it wrote.`
  );
}

async function forceDelete(sm: SecretsManagerClient) {
  await sm
    .send(new DeleteSecretCommand({ SecretId: LOCK_NAME, ForceDeleteWithoutRecovery: true }))
    .catch((e: Error) => {
      if (e.name !== 'ResourceNotFoundException') throw e; // already gone
    });
}

/** Delete the lock only if this run holds it (a lock being deleted is nobody's). */
async function releaseIfMine(sm: SecretsManagerClient, runId: string) {
  const cur = await sm.send(new GetSecretValueCommand({ SecretId: LOCK_NAME })).catch(() => undefined);
  if (cur?.SecretString && (JSON.parse(cur.SecretString) as Holder).runId === runId) await forceDelete(sm);
}

/** Release the lock of a run that is known to be dead; only the named run's lock is removed. */
export async function breakFixLock(
  env: Record<string, string | undefined>,
  runId: string,
  o: { refuse?: (holder: LockHolder) => string | undefined } = {},
): Promise<'released' | 'not-held' | { heldBy: string } | { refused: string }> {
  const sm = lockClient(env);
  const cur = await sm.send(new GetSecretValueCommand({ SecretId: LOCK_NAME })).catch((e: Error) => {
    if (e.name === 'ResourceNotFoundException' || isDeletionInProgress(e)) return undefined;
    throw e;
  });
  if (!cur?.SecretString) return 'not-held';
  const holder = JSON.parse(cur.SecretString) as Holder;
  if (holder.runId !== runId) return { heldBy: holder.runId };
  const refused = o.refuse?.(holder);
  if (refused) return { refused };
  await forceDelete(sm);
  return 'released';
}

/** Who holds the lock now, in one sentence (who, where, since when), or undefined when nobody does. */
export async function fixLockHolder(env: Record<string, string | undefined>): Promise<string | undefined> {
  const cur = await lockClient(env)
    .send(new GetSecretValueCommand({ SecretId: LOCK_NAME }))
    .catch((e: Error) => {
      if (e.name === 'ResourceNotFoundException') return undefined;
      throw e;
    });
  if (!cur?.SecretString) return undefined;
  const h = JSON.parse(cur.SecretString) as Holder;
  const since = h.since ?? cur.CreatedDate?.toISOString() ?? 'an unknown time';
  return `a fix run holds the lock: run ${h.runId} on ${h.host} (pid ${h.pid}) since ${since}, until ${h.expiresAt}`;
}
