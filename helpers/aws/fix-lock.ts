/**
 * One fix run at a time, across machines: a lock built on Secrets Manager (already in play and
 * shared by every operator's laptop and CI). CreateSecret is atomic on the name; the value says who
 * holds it and until when, so a crashed run does not block forever.
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

export async function acquireFixLock(
  env: Record<string, string | undefined>,
  runId: string,
  ttlMs = 30 * 60_000,
): Promise<FixLock> {
  const sm = lockClient(env);
  const me: Holder = {
    runId,
    host: hostname(),
    pid: process.pid,
    since: new Date().toISOString(),
    expiresAt: new Date(Date.now() + ttlMs).toISOString(),
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await sm.send(
        new CreateSecretCommand({
          Name: LOCK_NAME,
          SecretString: JSON.stringify(me),
          ClientRequestToken: randomUUID(),
          Description: 'mpc-runbook: one fix run at a time',
        }),
      );
      return {
        async release() {
          const cur = await sm.send(new GetSecretValueCommand({ SecretId: LOCK_NAME })).catch(() => undefined);
          if (cur?.SecretString && (JSON.parse(cur.SecretString) as Holder).runId === runId) {
            await sm.send(new DeleteSecretCommand({ SecretId: LOCK_NAME, ForceDeleteWithoutRecovery: true }));
          }
        },
      };
    } catch (e) {
      if ((e as Error).name !== 'ResourceExistsException') throw e;
      const cur = await sm.send(new GetSecretValueCommand({ SecretId: LOCK_NAME }));
      const holder = JSON.parse(cur.SecretString ?? '{}') as Holder;
      if (Date.parse(holder.expiresAt) > Date.now()) {
        throw new Error(
          `another fix run holds the lock: run ${holder.runId} on ${holder.host} (pid ${holder.pid}) until ${holder.expiresAt}. Wait for it. If that run is dead (killed, crashed), the lock expires by itself, or release it now with \`npm run unlock -- ${holder.runId}\` and run fix again: the journal of run ${holder.runId} lists what it wrote.`,
        );
      }
      await sm.send(new DeleteSecretCommand({ SecretId: LOCK_NAME, ForceDeleteWithoutRecovery: true })); // expired: take over
    }
  }
  throw new Error('could not take the fix lock');
}

/** Release the lock of a run that is known to be dead; only the named run's lock is removed. */
export async function breakFixLock(
  env: Record<string, string | undefined>,
  runId: string,
): Promise<'released' | 'not-held' | { heldBy: string }> {
  const sm = lockClient(env);
  const cur = await sm.send(new GetSecretValueCommand({ SecretId: LOCK_NAME })).catch((e: Error) => {
    if (e.name === 'ResourceNotFoundException') return undefined;
    throw e;
  });
  if (!cur?.SecretString) return 'not-held';
  const holder = JSON.parse(cur.SecretString) as Holder;
  if (holder.runId !== runId) return { heldBy: holder.runId };
  await sm.send(new DeleteSecretCommand({ SecretId: LOCK_NAME, ForceDeleteWithoutRecovery: true }));
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
