/**
 * Secrets Manager: the node secrets read in batches of 20 (BatchGetSecretValue), normalised and
 * observed as public keys only; restores written with a deterministic ClientRequestToken so a
 * re-run after a crash is idempotent; rollback by moving AWSCURRENT back.
 */
import { createHash } from 'node:crypto';
import {
  BatchGetSecretValueCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { SecretObservation } from './evidence.ts';
import { normaliseSecretValue, nodeKeyProblem, parseNodeSecretKey } from './keys.ts';
import { redactor } from './redact.ts';
import { withRetry } from './retry.ts';

export const secretNames = (i: number) => ({
  account: `mpc-node-${i}-mpc_account_sk`,
  p2p: `mpc-node-${i}-mpc_p2p_private_key`,
  store: `mpc-node-${i}-mpc_secret_store_key`,
});

export function secretsClient(region: string) {
  return new SecretsManagerClient({ region, maxAttempts: 4, retryMode: 'standard' });
}

export interface RawSecret {
  name: string;
  value?: string;
  versionId?: string;
  error?: string;
}

/** AWSCURRENT of every named secret, 20 per call; every value is registered with the redactor. */
export async function readSecrets(client: SecretsManagerClient, names: string[]): Promise<Map<string, RawSecret>> {
  const out = new Map<string, RawSecret>();
  const chunks: string[][] = [];
  for (let i = 0; i < names.length; i += 20) chunks.push(names.slice(i, i + 20));
  await Promise.all(
    chunks.map(async (chunk) => {
      const r = await withRetry('BatchGetSecretValue', () =>
        client.send(new BatchGetSecretValueCommand({ SecretIdList: chunk })),
      );
      for (const v of r.SecretValues ?? []) {
        redactor.add(v.SecretString);
        redactor.add(v.SecretString?.trim());
        out.set(v.Name!, { name: v.Name!, value: v.SecretString, versionId: v.VersionId });
      }
      for (const e of r.Errors ?? []) {
        if (e.ErrorCode === 'ResourceNotFoundException')
          out.set(e.SecretId!, { name: e.SecretId!, error: 'the secret does not exist' });
        else throw new Error(`reading ${e.SecretId}: ${e.ErrorCode}: ${e.Message}`);
      }
    }),
  );
  for (const n of names) if (!out.has(n)) out.set(n, { name: n, error: 'not returned by BatchGetSecretValue' });
  return out;
}

/** What a key secret tells the runbook: its shape, and the public key it derives (if any). */
export function observeKeySecret(raw: RawSecret, where: { node: string; field: string }): SecretObservation {
  const n = normaliseSecretValue(raw.error ? undefined : raw.value);
  const obs: SecretObservation = {
    secretName: raw.name,
    shape: n.shape,
    ...(raw.versionId ? { versionId: raw.versionId } : {}),
    ...(n.problem ? { problem: n.problem } : {}),
  };
  if (!n.value) return obs;
  redactor.add(n.value);
  const problem = nodeKeyProblem(n.value);
  if (problem) return { ...obs, shape: 'malformed', problem: `the key ${problem}` };
  return { ...obs, publicKey: parseNodeSecretKey(n.value, where).publicKey };
}

/** Deterministic token: the same restore (run, secret, key) always maps to the same version id. */
export function restoreToken(runId: string, secretName: string, publicKey: string): string {
  const h = createHash('sha256').update(`${runId}|${secretName}|${publicKey}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export async function putSecret(client: SecretsManagerClient, name: string, value: string, token: string) {
  const r = await withRetry(`PutSecretValue ${name}`, () =>
    client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value, ClientRequestToken: token })),
  );
  return { versionId: r.VersionId! };
}

export async function currentVersionId(client: SecretsManagerClient, name: string): Promise<string | null> {
  try {
    const r = await withRetry(`GetSecretValue ${name}`, () =>
      client.send(new GetSecretValueCommand({ SecretId: name })),
    );
    redactor.add(r.SecretString);
    return r.VersionId ?? null;
  } catch (e) {
    if ((e as Error).name === 'ResourceNotFoundException') return null;
    throw e;
  }
}

/** Move AWSCURRENT back to `toVersionId` (AWSPREVIOUS follows), as the AWS rollback procedure does. */
export async function rollbackSecret(client: SecretsManagerClient, name: string, toVersionId: string) {
  const current = await currentVersionId(client, name);
  if (current === toVersionId) return;
  await withRetry(`UpdateSecretVersionStage ${name}`, () =>
    client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: name,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: toVersionId,
        ...(current ? { RemoveFromVersionId: current } : {}),
      }),
    ),
  );
}
