/**
 * The contract's own key derivation (crates/contract/src/crypto_shared/kdf.rs), kept apart from the
 * runbook's helpers/derivation.ts on purpose: the parity step compares the two.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { base58 } from '@scure/base';

const TWEAK_DERIVATION_PREFIX = 'near-mpc-recovery v0.1.0 epsilon derivation:';

export function deriveTweak(predecessorId: string, path: string): Uint8Array {
  return sha3_256(new TextEncoder().encode(`${TWEAK_DERIVATION_PREFIX}${predecessorId},${path}`));
}

/** near `secp256k1:` key (64-byte X‖Y) -> curve point. */
export function nearKeyToPoint(key: string) {
  if (!key.startsWith('secp256k1:')) throw new Error('wrong prefix');
  const xy = base58.decode(key.slice('secp256k1:'.length));
  if (xy.length !== 64) throw new Error('invalid key length');
  return secp256k1.Point.fromBytes(Uint8Array.from([4, ...xy]));
}

export function pointToNearKey(p: ReturnType<typeof nearKeyToPoint>): string {
  return `secp256k1:${base58.encode(p.toBytes(false).slice(1))}`;
}

export function deriveKeySecp256k1(root: string, tweak: Uint8Array): string {
  const eps = BigInt(`0x${Buffer.from(tweak).toString('hex')}`);
  if (eps >= secp256k1.Point.CURVE().n) throw new Error('TweakNotOnCurve');
  return pointToNearKey(nearKeyToPoint(root).add(secp256k1.Point.BASE.multiply(eps)));
}
