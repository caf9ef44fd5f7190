/**
 * The runbook's own MPC key derivation, to check the contract's derived_public_key against:
 * tweak = SHA3-256("near-mpc-recovery v0.1.0 epsilon derivation:" + predecessor + "," + path),
 * child = root + tweak·G, EVM address = keccak-256(X‖Y)[12..] with EIP-55 checksum.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256, sha3_256 } from '@noble/hashes/sha3.js';
import { base58 } from '@scure/base';

const PREFIX = 'near-mpc-recovery v0.1.0 epsilon derivation:';
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export function deriveTweak(predecessor: string, path: string): Uint8Array {
  return sha3_256(new TextEncoder().encode(`${PREFIX}${predecessor},${path}`));
}

export function parseSecp256k1PublicKey(key: string) {
  if (!key.startsWith('secp256k1:')) throw new Error(`not a secp256k1 key: ${key.slice(0, 12)}…`);
  const xy = base58.decode(key.slice('secp256k1:'.length));
  if (xy.length !== 64) throw new Error(`a secp256k1 key is 64 bytes (X‖Y), got ${xy.length}`);
  return secp256k1.Point.fromBytes(Uint8Array.from([4, ...xy]));
}

const toNear = (p: ReturnType<typeof parseSecp256k1PublicKey>) =>
  `secp256k1:${base58.encode(p.toBytes(false).slice(1))}`;

export function deriveChildPublicKey(root: string, predecessor: string, path: string): string {
  const eps = BigInt(`0x${hex(deriveTweak(predecessor, path))}`);
  return toNear(parseSecp256k1PublicKey(root).add(secp256k1.Point.BASE.multiply(eps)));
}

export const toUncompressedHex = (key: string) => hex(parseSecp256k1PublicKey(key).toBytes(false));

export function evmAddress(key: string): string {
  const xy = parseSecp256k1PublicKey(key).toBytes(false).slice(1);
  const addr = hex(keccak_256(xy).slice(12));
  const check = hex(keccak_256(new TextEncoder().encode(addr)));
  return `0x${[...addr].map((c, i) => (parseInt(check[i]!, 16) >= 8 ? c.toUpperCase() : c)).join('')}`;
}
