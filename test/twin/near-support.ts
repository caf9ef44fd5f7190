/** Helpers for the NEAR twin tests: a tiny counter contract model and signed-transaction builders. */
import { createHash } from 'node:crypto';
import { KeyPair, KeyPairSigner, baseDecode, baseEncode, createTransaction, type Action } from 'near-api-js';
import type { ContractModel, ContractOutcome } from '../../twin/near/contract-host.ts';
import type { Chain } from '../../twin/near/chain.ts';

/** A counter: view `get`, calls `increment {by?}` (returns the new value), `boom` (panics), `whoami`. */
export function counterContract(): ContractModel & { value: number } {
  const c = {
    value: 0,
    codeHash: baseEncode(createHash('sha256').update('twin-test-counter').digest()),
    view(method: string): ContractOutcome {
      if (method === 'get') return { ok: true, value: c.value, logs: [] };
      if (method === 'boom') return { ok: false, error: { kind: 'Panic', message: 'view boom' }, logs: [] };
      return { ok: false, error: { kind: 'MethodNotFound' }, logs: [] };
    },
    call(
      method: string,
      args: unknown,
      ctx: { signerId: string; signerPublicKey: string; attachedDeposit: bigint },
    ): ContractOutcome {
      if (method === 'increment') {
        const by = (args as { by?: number }).by ?? 1;
        c.value += by;
        return { ok: true, value: c.value, logs: [`incremented by ${by}`] };
      }
      if (method === 'boom') return { ok: false, error: { kind: 'Panic', message: 'boom' }, logs: ['about to fail'] };
      if (method === 'whoami')
        return {
          ok: true,
          value: { signer: ctx.signerId, key: ctx.signerPublicKey, deposit: ctx.attachedDeposit.toString() },
          logs: [],
        };
      if (method === 'noop') return { ok: true, logs: [] };
      return { ok: false, error: { kind: 'MethodNotFound' }, logs: [] };
    },
  };
  return c;
}

export interface TxSpec {
  signerId: string;
  key: KeyPair;
  receiverId: string;
  nonce: bigint;
  actions: Action[];
  blockHash: string;
}

/** borsh(SignedTransaction) for a tx signed by `key`. */
export async function signTx(s: TxSpec): Promise<{ bytes: Uint8Array; hash: string }> {
  const tx = createTransaction(
    s.signerId,
    s.key.getPublicKey(),
    s.receiverId,
    s.nonce,
    s.actions,
    baseDecode(s.blockHash),
  );
  const { signedTransaction, txHash } = await new KeyPairSigner(s.key).signTransaction(tx);
  return { bytes: signedTransaction.encode(), hash: baseEncode(txHash) };
}

/** The next nonce for a key as a client computes it (ak nonce + 1). */
export function nextNonce(chain: Chain, accountId: string, key: KeyPair): bigint {
  const ak = chain.viewAccessKey(accountId, key.getPublicKey().toString());
  if (!ak) throw new Error(`no key on ${accountId}`);
  return BigInt(ak.nonce) + 1n;
}

/** Catch a synchronous throw and return it. */
export function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

/** snake_case -> camelCase on keys, recursively (the rule @near-js/jsonrpc-client applies). */
export function camel(o: unknown): unknown {
  if (o === null || typeof o !== 'object') return o;
  if (Array.isArray(o)) return o.map(camel);
  return Object.fromEntries(
    Object.entries(o).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), camel(v)]),
  );
}

export const NEAR = 10n ** 24n;
export const TGAS = 10n ** 12n;

/**
 * The accounts both chain and RPC tests start from: localnet (funded), alice.localnet with a
 * FullAccess key and a FunctionCall key for counter.localnet's `increment`, and the counter contract.
 */
export function seedAccounts(chain: Chain, extra: (chain: Chain) => void = () => {}) {
  const alice = KeyPair.fromRandom('ed25519');
  const fcKey = KeyPair.fromRandom('ed25519');
  const counter = counterContract();
  chain.createAccount('localnet', { balance: 1000n * NEAR });
  chain.createAccount('alice.localnet', {
    balance: 10n * NEAR,
    keys: [
      { publicKey: alice.getPublicKey().toString(), permission: 'FullAccess' },
      {
        publicKey: fcKey.getPublicKey().toString(),
        permission: { FunctionCall: { receiver_id: 'counter.localnet', method_names: ['increment'], allowance: null } },
      },
    ],
  });
  extra(chain);
  chain.createAccount('counter.localnet', { balance: NEAR });
  chain.deployContract('counter.localnet', counter);
  return { alice, fcKey, counter };
}
