/**
 * NEAR ed25519 node keys by the MPC node's rules — stricter than near-api-js, which silently accepts
 * a 32-byte seed-only key and a 64-byte key whose public half does not match its seed — and the
 * shapes a Secrets Manager value is found in. Errors name the node and field, never the value.
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { base58 } from '@scure/base';
import type { SecretShape } from './evidence.ts';

export const PLACEHOLDER = 'PLACEHOLDER_REPLACE_WITH_REAL_KEY';

export class KeyFormatError extends Error {
  readonly node: string;
  readonly field: string;
  constructor(where: { node: string; field: string }, problem: string) {
    super(`${where.node}.${where.field}: ${problem}`);
    this.node = where.node;
    this.field = where.field;
  }
}

/** An Ed25519 private key's PKCS#8 DER before its 32-byte seed (RFC 8410 §7). */
const PKCS8_ED25519_SEED = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * The public key of an Ed25519 seed, by Node's own Ed25519 (OpenSSL): a gate checks two keys per node in
 * each of two places, and this is about three times faster than the pure-JS curve, with no table to build on
 * first use. Its SPKI DER is a 12-byte header and the 32-byte key.
 */
function publicHalfOf(seed: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_SEED, seed]), format: 'der', type: 'pkcs8' });
  return createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(12);
}

/** A node key read by the node's rules: the public key it derives, or why it is not one (never the value). */
export type NodeKeyReading = { publicKey: string; problem?: undefined } | { problem: string; publicKey?: undefined };

/**
 * Readings by a hash of the value: a gate meets each key twice (the keys manifest, Secrets Manager), and at
 * 100 nodes deriving it again was the runbook's largest own CPU cost. No value is kept, only its hash.
 */
const readings = new Map<string, NodeKeyReading>();
const READINGS_KEPT = 10_000;

function readFresh(value: string): NodeKeyReading {
  if (!value.startsWith('ed25519:')) return { problem: "is not an ed25519 key (must start with 'ed25519:')" };
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(value.slice('ed25519:'.length));
  } catch {
    return { problem: 'is not valid base58 after the ed25519: prefix' };
  }
  if (bytes.length === 32)
    return { problem: 'holds only a 32-byte seed; the node needs the 64-byte seed‖public-key form' };
  if (bytes.length !== 64)
    return { problem: `decodes to ${bytes.length} bytes; a node key is 64 bytes (seed‖public key)` };
  const publicKey = base58.encode(publicHalfOf(bytes.slice(0, 32)));
  if (publicKey !== base58.encode(bytes.slice(32)))
    return { problem: 'is a 64-byte key whose public half does not match its seed' };
  return { publicKey: `ed25519:${publicKey}` };
}

/** The public key a node secret key derives, or why it is not a valid one; each value is derived once. */
export function readNodeKey(value: string): NodeKeyReading {
  const id = createHash('sha256').update(value).digest('base64');
  const known = readings.get(id);
  if (known) return known;
  if (readings.size >= READINGS_KEPT) readings.clear();
  const reading = readFresh(value);
  readings.set(id, reading);
  return reading;
}

/** Why a value is not a valid node key, or undefined when it is one. Never echoes the value. */
export const nodeKeyProblem = (value: string): string | undefined => readNodeKey(value).problem;

/** The public key of a node secret key, validated by the node's rules. */
export function parseNodeSecretKey(value: string, where: { node: string; field: string }): { publicKey: string } {
  const r = readNodeKey(value);
  if (r.problem !== undefined)
    throw new KeyFormatError(where, `${r.problem}; regenerate it or take it from the keys manifest`);
  return { publicKey: r.publicKey };
}

export function isPublicKey(value: string): boolean {
  if (!value.startsWith('ed25519:')) return false;
  try {
    return base58.decode(value.slice(8)).length === 32;
  } catch {
    return false;
  }
}

export const isSecretStoreKey = (v: string) => /^[0-9a-fA-F]{32}$/.test(v);

/**
 * What a Secrets Manager value looks like, and the key inside it when one can be recovered:
 * plain, JSON {"key": …} (ECS era), trailing newline, progress text captured around the key
 * (recoverable only when exactly one ed25519: token is present), the base58 body without its
 * ed25519: prefix, placeholder, empty, missing.
 */
export function normaliseSecretValue(raw: string | undefined): {
  shape: SecretShape;
  value?: string;
  problem?: string;
} {
  if (raw === undefined) return { shape: 'missing', problem: 'the secret does not exist or has no AWSCURRENT value' };
  if (raw.trim() === '') return { shape: 'empty', problem: 'the secret value is empty' };
  if (raw.trim() === PLACEHOLDER)
    return { shape: 'placeholder', problem: `the secret still holds the CDK placeholder ${PLACEHOLDER}` };
  const trimmed = raw.trim();
  if (trimmed.startsWith('{')) {
    try {
      const obj = JSON.parse(trimmed) as Record<string, unknown>;
      const inner = obj.key ?? obj.privateKey ?? obj.MPC_ACCOUNT_SK;
      if (typeof inner === 'string')
        return {
          shape: 'json-wrapped',
          value: inner.trim(),
          problem: 'the value is JSON-wrapped ({"key": …}); the EC2 bootstrap expects the plain key',
        };
    } catch {
      /* not JSON: fall through */
    }
    return { shape: 'malformed', problem: 'the value looks like JSON but holds no key field' };
  }
  if (!/\s/.test(raw) && isBareKeyBody(raw))
    return {
      shape: 'no-prefix',
      value: `ed25519:${raw}`,
      problem:
        "the value is the key's base58 body without its 'ed25519:' prefix: " +
        "the node's next bootstrap stops on it (ERROR: … must start with 'ed25519:')",
    };
  if (!/\s/.test(raw)) return { shape: 'plain', value: raw };
  if (/^\S+\s+$/.test(raw) && !/\s/.test(trimmed))
    return { shape: 'trailing-newline', value: trimmed, problem: 'the value ends with a newline' };
  const tokens = raw.split(/\s+/).filter((t) => t.startsWith('ed25519:'));
  if (tokens.length === 1)
    return {
      shape: 'progress-text',
      value: tokens[0],
      problem: 'the value holds captured progress text around the key',
    };
  return { shape: 'malformed', problem: 'the value holds text that is not a single key' };
}

/** A node key's base58 body alone (64 bytes, seed‖public key that match): a key that lost its prefix. */
function isBareKeyBody(raw: string): boolean {
  if (raw.includes(':')) return false;
  return nodeKeyProblem(`ed25519:${raw}`) === undefined;
}

/** "ed25519:7hEV…RQTE": enough to tell keys apart in a report. */
export function shortKey(publicKey: string | undefined): string {
  if (!publicKey) return '—';
  const [curve, body] = publicKey.split(':');
  return body && body.length > 10 ? `${curve}:${body.slice(0, 4)}…${body.slice(-4)}` : publicKey;
}

/** One-way fingerprint of a secret, safe to journal (identifies a value without revealing it). */
export const keyFingerprint = (secret: string) =>
  `sha256:${createHash('sha256').update(secret).digest('hex').slice(0, 16)}`;
