/**
 * The node secrets as the deployment names them, what a secret value tells the runbook (its shape
 * and the public key it derives — never the value), and the deterministic token of a restore.
 * Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import type { SecretObservation } from './evidence.ts';
import { normaliseSecretValue, readNodeKey } from './keys.ts';
import { redactor } from './redact.ts';

// The CDK stack's names (mpc-network.ts); the twin writes them too, on purpose separately.
export const secretNames = (i: number) => ({
  account: `mpc-node-${i}-mpc_account_sk`,
  p2p: `mpc-node-${i}-mpc_p2p_private_key`,
  store: `mpc-node-${i}-mpc_secret_store_key`,
});

/** A secret as Secrets Manager returned it (AWSCURRENT), or why it could not be read. */
export interface RawSecret {
  name: string;
  value?: string;
  versionId?: string;
  error?: string;
}

/** What a key secret tells the runbook: its shape, and the public key it derives (if any). */
export function observeKeySecret(raw: RawSecret): SecretObservation {
  const n = normaliseSecretValue(raw.error ? undefined : raw.value);
  const obs: SecretObservation = {
    secretName: raw.name,
    shape: n.shape,
    ...(raw.versionId ? { versionId: raw.versionId } : {}),
    ...(n.problem ? { problem: n.problem } : {}),
  };
  if (!n.value) return obs;
  redactor.add(n.value);
  const key = readNodeKey(n.value);
  if (key.problem !== undefined) return { ...obs, shape: 'malformed', problem: `the key ${key.problem}` };
  return { ...obs, publicKey: key.publicKey };
}

/** Deterministic token: the same restore (run, secret, key) always maps to the same version id. */
export function restoreToken(runId: string, secretName: string, publicKey: string): string {
  const h = createHash('sha256').update(`${runId}|${secretName}|${publicKey}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
