/**
 * The claims of step 05: the contract derives keys exactly as we do — its root key is a point on
 * secp256k1, and derived_public_key equals root + tweak·G (and so does the EVM address).
 */
import { deriveChildPublicKey, evmAddress, parseSecp256k1PublicKey } from './derivation.ts';
import type { RunbookConfig } from './config.ts';
import type { RunbookContext } from './harness/context.ts';
import type { Verdict } from './harness/claim.ts';
import { rootKey } from './observe.ts';

/** The default parity case of the user's test-parity.ts, plus RUNBOOK_PARITY_CASES (predecessor:path,…). */
export function parityCases(config: Pick<RunbookConfig, 'RUNBOOK_PARITY_CASES'> | undefined) {
  const extra = (config?.RUNBOOK_PARITY_CASES ?? '')
    .split(',')
    .filter(Boolean)
    .map((c) => {
      const [predecessor, ...path] = c.split(':');
      return { predecessor: predecessor!, path: path.join(':') };
    });
  return [{ predecessor: 'test.localnet', path: 'ethereum-test' }, ...extra];
}

export async function rootKeyOnCurve(_: unknown, ctx: RunbookContext): Promise<Verdict> {
  const root = await rootKey(ctx);
  try {
    parseSecp256k1PublicKey(root);
    return { evidence: root, problems: [] };
  } catch (e) {
    return {
      evidence: root,
      problems: [{ message: `the root key is not a secp256k1 point: ${(e as Error).message}` }],
    };
  }
}

export const derivesAsWeDo =
  ({ predecessor, path }: { predecessor: string; path: string }) =>
  async (_: unknown, ctx: RunbookContext): Promise<Verdict> => {
    const root = await rootKey(ctx);
    const theirs = await ctx.near.contractView<string>('derived_public_key', { path, predecessor, domain_id: 0 });
    const ours = deriveChildPublicKey(root, predecessor, path);
    const evidence = `contract ${theirs} (${evmAddress(theirs)}); ours ${ours} (${evmAddress(ours)})`;
    const problems = [
      ...(theirs === ours ? [] : [{ message: `derived_public_key is ${theirs}; root + tweak·G is ${ours}` }]),
      ...(evmAddress(theirs) === evmAddress(ours) ? [] : [{ message: 'the EVM addresses differ' }]),
    ];
    return { evidence, problems };
  };
