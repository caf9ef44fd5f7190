/**
 * ed25519 for the twin's own work — the chain's check of every transaction's signature, and the public keys
 * of the scenario's and the nodes' secret keys — through Node's crypto (OpenSSL), about 15 times faster than
 * the pure-JS curve: a twin start checks every vote and derives every key. Keys cross as raw bytes, in the
 * DER wrappers of RFC 8410 (PKCS#8 for a 32-byte seed, SPKI for a 32-byte public key).
 */
import { createPrivateKey, createPublicKey, verify } from 'node:crypto';

const PKCS8_SEED_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_KEY_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The public key of a 32-byte ed25519 seed (throws on any other length). */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_SEED_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_KEY_PREFIX.length));
}

/** Is `signature` the ed25519 signature of `message` by `publicKey`? (throws on a malformed key) */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.concat([SPKI_KEY_PREFIX, publicKey]), format: 'der', type: 'spki' });
  return verify(null, message, key, signature);
}
