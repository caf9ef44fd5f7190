import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, test } from 'vitest';
import { ed25519PublicKey, ed25519Verify } from '../../twin/ed25519.ts';

describe("the twin's ed25519 (Node's crypto) agrees with the reference curve (@noble/curves)", () => {
  const seeds = Array.from({ length: 8 }, () => randomBytes(32));
  const message = randomBytes(32);

  test('the public key of a seed', () => {
    for (const seed of seeds) expect(ed25519PublicKey(seed)).toEqual(ed25519.getPublicKey(seed));
  });

  test('a signature verifies under its key only, and not over another message', () => {
    const [a, b] = seeds.map((s) => ({ pub: ed25519.getPublicKey(s), sig: ed25519.sign(message, s) }));
    expect(ed25519Verify(a!.pub, message, a!.sig)).toBe(true);
    expect(ed25519Verify(b!.pub, message, a!.sig)).toBe(false);
    expect(ed25519Verify(a!.pub, randomBytes(32), a!.sig)).toBe(false);
  });

  test('a seed that is not 32 bytes is refused', () => {
    expect(() => ed25519PublicKey(randomBytes(31))).toThrow();
  });
});
