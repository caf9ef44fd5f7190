import { describe, expect, test } from 'vitest';
import { deriveChildPublicKey, evmAddress, parseSecp256k1PublicKey } from '../helpers/derivation.ts';
import { openStep, prerequisitesHold, use } from '../helpers/runbook.ts';

const step = await openStep('05-parity-views');
const cases = [
  { predecessor: 'test.localnet', path: 'ethereum-test' },
  ...(step.ctx?.config.RUNBOOK_PARITY_CASES ?? '')
    .split(',')
    .filter(Boolean)
    .map((c) => {
      const [predecessor, ...path] = c.split(':');
      return { predecessor: predecessor!, path: path.join(':') };
    }),
];

describe('05 parity views: the contract derives keys exactly as we do', () => {
  prerequisitesHold(step, test);

  test('the root key public_key({domain_id: 0}) is a point on secp256k1', async (t) => {
    const ctx = use(step, t);
    const root = await ctx.near.contractView<string>('public_key', { domain_id: 0 });
    t.annotate(root, 'evidence');
    expect(() => parseSecp256k1PublicKey(root)).not.toThrow();
  });

  test.for(cases)(
    'derived_public_key for $predecessor / $path equals root + tweak·G, and so does its EVM address',
    async ({ predecessor, path }, t) => {
      const ctx = use(step, t);
      const root = await ctx.near.contractView<string>('public_key', { domain_id: 0 });
      const fromContract = await ctx.near.contractView<string>('derived_public_key', {
        path,
        predecessor,
        domain_id: 0,
      });
      const ours = deriveChildPublicKey(root, predecessor, path);
      t.annotate(
        `contract ${fromContract} (${evmAddress(fromContract)}); ours ${ours} (${evmAddress(ours)})`,
        'evidence',
      );
      expect(fromContract).toBe(ours);
      expect(evmAddress(fromContract)).toBe(evmAddress(ours));
    },
  );
});
