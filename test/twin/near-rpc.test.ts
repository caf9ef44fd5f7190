/**
 * The twin's NEAR JSON-RPC against real clients: near-api-js 7 unmodified, raw JSON-RPC compared with
 * nearcore's shapes, and @near-js/jsonrpc-types schemas (after camelCasing keys).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  Account,
  JsonRpcProvider,
  KeyPair,
  KeyPairSigner,
  actions,
  baseDecode,
  createTransaction,
  getTransactionLastResult,
} from 'near-api-js';
import {
  AccessKeyDoesNotExistError,
  AccessKeyNotFoundActionError,
  AccountDoesNotExistError,
  ContractExecutionError,
  InvalidNonceError,
  RpcMethodNotFoundError,
  UnknownBlockError,
} from 'near-api-js/rpc-errors';
import * as T from '@near-js/jsonrpc-types';
import { createChain, type Chain } from '../../twin/near/chain.ts';
import { startNearRpc, type NearRpcServer } from '../../twin/near/rpc.ts';
import { camel, seedAccounts, signTx, NEAR, TGAS } from './near-support.ts';

const BLOCK_MS = 50;
let chain: Chain;
let rpc: NearRpcServer;
let provider: JsonRpcProvider;
let alice: KeyPair;
let fcKey: KeyPair;
let counter: ReturnType<typeof seedAccounts>['counter'];

beforeAll(async () => {
  chain = createChain({ chainId: 'localnet', blockTimeMs: BLOCK_MS, transactionValidityPeriod: 20 });
  ({ alice, fcKey, counter } = seedAccounts(chain, (c) => c.createAccount('bob.localnet', { balance: NEAR })));
  chain.start();
  rpc = await startNearRpc({ chain, txPollingTimeoutMs: 1500 });
  provider = new JsonRpcProvider({ url: rpc.url }, { retries: 1, wait: 20 });
  await waitForHeight(4);
});

afterAll(async () => {
  await rpc?.stop();
  chain?.stop();
});

async function waitForHeight(h: number) {
  await vi.waitFor(() => expect(chain.head.height).toBeGreaterThanOrEqual(h), {
    timeout: 60_000,
    interval: BLOCK_MS / 2,
  });
}

/** One raw JSON-RPC exchange: HTTP status and parsed body. */
async function raw(method: string, params: unknown, id: unknown = 'dontcare'): Promise<{ status: number; body: any }> {
  const res = await fetch(rpc.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
  });
  return { status: res.status, body: await res.json() };
}

function valid(schema: { safeParse(v: unknown): { success: boolean; error?: unknown } }, value: unknown) {
  const r = schema.safeParse(camel(value));
  expect(r.success, JSON.stringify((r as { error?: { issues?: unknown } }).error?.issues ?? null).slice(0, 1500)).toBe(
    true,
  );
}

async function nonceOf(key: KeyPair, accountId = 'alice.localnet') {
  const ak = await provider.viewAccessKey({ accountId, publicKey: key.getPublicKey() });
  return BigInt(ak.nonce) + 1n;
}

async function b64Tx(o: {
  key: KeyPair;
  receiverId?: string;
  nonce?: bigint;
  blockHash?: string;
  method?: string;
  args?: object;
  signerId?: string;
  acts?: ReturnType<typeof actions.transfer>[];
}) {
  const signerId = o.signerId ?? 'alice.localnet';
  const { bytes, hash } = await signTx({
    signerId,
    key: o.key,
    receiverId: o.receiverId ?? 'counter.localnet',
    nonce: o.nonce ?? (await nonceOf(o.key, signerId)),
    blockHash: o.blockHash ?? chain.finalBlock.hash,
    actions: o.acts ?? [actions.functionCall(o.method ?? 'increment', o.args ?? {}, 30n * TGAS, 0n)],
  });
  return { b64: Buffer.from(bytes).toString('base64'), hash };
}

const invalidTx = (body: any) => {
  expect(body.error).toMatchObject({
    name: 'HANDLER_ERROR',
    cause: { name: 'INVALID_TRANSACTION', info: {} },
    code: -32000,
    message: 'Server error',
  });
  return body.error.data.TxExecutionError.InvalidTxError;
};

describe('near-api-js 7 against the twin', () => {
  it('lists access keys, views an account, sends a Transfer and a FunctionCall', async () => {
    const list = await provider.viewAccessKeyList({ accountId: 'alice.localnet' });
    expect(list.keys.map((k) => k.public_key).sort()).toEqual(
      [alice.getPublicKey().toString(), fcKey.getPublicKey().toString()].sort(),
    );
    const bob = await provider.viewAccount({ accountId: 'bob.localnet' });
    expect(bob.amount).toBe(NEAR);

    const account = new Account('alice.localnet', provider, new KeyPairSigner(alice));
    const state = await account.getState();
    expect(state.balance.total).toBe(chain.getAccount('alice.localnet')!.amount);
    const t = await account.transfer({ receiverId: 'bob.localnet', amount: 2n * NEAR });
    expect(t.status).toEqual({ SuccessValue: '' });
    expect((await provider.viewAccount({ accountId: 'bob.localnet' })).amount).toBe(3n * NEAR);

    const before = counter.value;
    const v = await account.callFunction<number>({
      contractId: 'counter.localnet',
      methodName: 'increment',
      args: { by: 3 },
    });
    expect(v).toBe(before + 3);
    const rawOut = await account.callFunctionRaw({
      contractId: 'counter.localnet',
      methodName: 'increment',
      args: { by: 1 },
      waitUntil: 'FINAL',
    });
    expect(getTransactionLastResult(rawOut)).toBe(before + 4);
    expect(rawOut.final_execution_status).toBe('FINAL');
    expect(rawOut.receipts_outcome[0]!.outcome.logs).toEqual(['incremented by 1']);
    expect(await provider.callFunction({ contractId: 'counter.localnet', method: 'get', args: {} })).toBe(before + 4);

    // the FunctionCall key works for its method, through near-api-js too
    const limited = new Account('alice.localnet', provider, new KeyPairSigner(fcKey));
    expect(
      await limited.callFunction<number>({ contractId: 'counter.localnet', methodName: 'increment', args: {} }),
    ).toBe(before + 5);
  });

  it('surfaces nearcore errors as near-api-js error classes', async () => {
    await expect(provider.viewAccount({ accountId: 'nobody.localnet' })).rejects.toBeInstanceOf(
      AccountDoesNotExistError,
    );
    await expect(
      provider.viewAccessKey({ accountId: 'alice.localnet', publicKey: KeyPair.fromRandom('ed25519').getPublicKey() }),
    ).rejects.toBeInstanceOf(AccessKeyDoesNotExistError);
    await expect(provider.viewBlock({ blockId: 0 })).rejects.toBeInstanceOf(UnknownBlockError);
    await expect(provider.sendJsonRpc('no_such_method' as 'status', {})).rejects.toBeInstanceOf(RpcMethodNotFoundError);
    const account = new Account('alice.localnet', provider, new KeyPairSigner(alice));
    const e = await account
      .callFunction({ contractId: 'counter.localnet', methodName: 'boom', args: {} })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ContractExecutionError);
    expect((e as Error).message).toContain('Smart contract panicked: boom');
  });

  it('sendTransactionUntil with a key not on the account -> AccessKeyNotFoundActionError', async () => {
    const stranger = KeyPair.fromRandom('ed25519');
    const block = await provider.viewBlock({ finality: 'final' });
    const tx = createTransaction(
      'alice.localnet',
      stranger.getPublicKey(),
      'counter.localnet',
      1n,
      [actions.functionCall('increment', {}, 30n * TGAS, 0n)],
      baseDecode(block.header.hash),
    );
    const { signedTransaction } = await new KeyPairSigner(stranger).signTransaction(tx);
    const e = await provider.sendTransactionUntil(signedTransaction, 'EXECUTED_OPTIMISTIC').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AccessKeyNotFoundActionError);
    expect((e as AccessKeyNotFoundActionError).accountId).toBe('alice.localnet');
    expect((e as AccessKeyNotFoundActionError).publicKey.toString()).toBe(stranger.getPublicKey().toString());

    const n = await nonceOf(alice);
    const first = createTransaction(
      'alice.localnet',
      alice.getPublicKey(),
      'counter.localnet',
      n,
      [actions.functionCall('noop', {}, TGAS, 0n)],
      baseDecode(block.header.hash),
    );
    await provider.sendTransactionUntil(
      (await new KeyPairSigner(alice).signTransaction(first)).signedTransaction,
      'INCLUDED',
    );
    const replay = createTransaction(
      'alice.localnet',
      alice.getPublicKey(),
      'counter.localnet',
      n,
      [actions.functionCall('noop', { again: 1 }, TGAS, 0n)],
      baseDecode(block.header.hash),
    );
    const e2 = await provider
      .sendTransactionUntil((await new KeyPairSigner(alice).signTransaction(replay)).signedTransaction, 'INCLUDED')
      .catch((x: unknown) => x);
    expect(e2).toBeInstanceOf(InvalidNonceError);
    expect((e2 as InvalidNonceError).accessKeyNonce).toBe(Number(n));
  });
});

describe('raw JSON-RPC shapes', () => {
  it(
    'INVALID_TRANSACTION: AccessKeyNotFound, InvalidNonce, MethodNameMismatch, ReceiverMismatch, ' +
      'Expired, InvalidSignature',
    async () => {
      const stranger = KeyPair.fromRandom('ed25519');
      const r1 = await raw('send_tx', {
        signed_tx_base64: (await b64Tx({ key: stranger, nonce: 5n })).b64,
        wait_until: 'EXECUTED_OPTIMISTIC',
      });
      expect(r1.status).toBe(200);
      expect(r1.body).toEqual({
        jsonrpc: '2.0',
        id: 'dontcare',
        error: {
          name: 'HANDLER_ERROR',
          cause: { name: 'INVALID_TRANSACTION', info: {} },
          code: -32000,
          message: 'Server error',
          data: {
            TxExecutionError: {
              InvalidTxError: {
                InvalidAccessKeyError: {
                  AccessKeyNotFound: { account_id: 'alice.localnet', public_key: stranger.getPublicKey().toString() },
                },
              },
            },
          },
        },
      });

      const n = await nonceOf(alice);
      const ok = await raw('send_tx', {
        signed_tx_base64: (await b64Tx({ key: alice, nonce: n, method: 'noop' })).b64,
        wait_until: 'INCLUDED',
      });
      expect(ok.body.result.status).toEqual({ SuccessValue: '' });
      const replay = await raw('send_tx', {
        signed_tx_base64: (await b64Tx({ key: alice, nonce: n, method: 'noop', args: { x: 1 } })).b64,
      });
      expect(invalidTx(replay.body)).toEqual({ InvalidNonce: { tx_nonce: Number(n), ak_nonce: Number(n) } });

      const mm = await raw('send_tx', { signed_tx_base64: (await b64Tx({ key: fcKey, method: 'boom' })).b64 });
      expect(invalidTx(mm.body)).toEqual({ InvalidAccessKeyError: { MethodNameMismatch: { method_name: 'boom' } } });
      const rm = await raw('send_tx', {
        signed_tx_base64: (await b64Tx({ key: fcKey, receiverId: 'bob.localnet' })).b64,
      });
      expect(invalidTx(rm.body)).toEqual({
        InvalidAccessKeyError: { ReceiverMismatch: { tx_receiver: 'bob.localnet', ak_receiver: 'counter.localnet' } },
      });

      const old = chain.head.hash;
      const target = chain.head.height + 21;
      await waitForHeight(target);
      const ex = await raw('send_tx', { signed_tx_base64: (await b64Tx({ key: alice, blockHash: old })).b64 });
      expect(invalidTx(ex.body)).toBe('Expired');

      const good = await b64Tx({ key: alice });
      const bytes = Buffer.from(good.b64, 'base64');
      bytes[bytes.length - 1]! ^= 1;
      const sig = await raw('send_tx', { signed_tx_base64: bytes.toString('base64') });
      expect(invalidTx(sig.body)).toBe('InvalidSignature');
    },
  );

  it('send_tx NONE, broadcast_tx_async, tx by hash, idempotent re-send, schemas', async () => {
    const none = await b64Tx({ key: alice, args: { by: 1 } });
    const r = await raw('send_tx', { signed_tx_base64: none.b64, wait_until: 'NONE' }, 'n1');
    expect(r.body).toEqual({ jsonrpc: '2.0', id: 'n1', result: { final_execution_status: 'NONE' } });
    const byHash = await raw('tx', { tx_hash: none.hash, sender_account_id: 'alice.localnet', wait_until: 'FINAL' });
    expect(byHash.body.result.final_execution_status).toBe('FINAL');
    expect(byHash.body.result.transaction.hash).toBe(none.hash);
    expect(byHash.body.result.transaction_outcome.id).toBe(none.hash);
    valid(T.JsonRpcResponseFor_RpcTransactionResponseAnd_RpcErrorSchema(), byHash.body);
    valid(T.RpcTransactionResponseSchema(), byHash.body.result);
    // re-sending the same signed tx answers with the known result
    const again = await raw('send_tx', { signed_tx_base64: none.b64, wait_until: 'EXECUTED_OPTIMISTIC' });
    expect(again.body.result.transaction.hash).toBe(none.hash);
    expect(again.body.result.status).toEqual(byHash.body.result.status);

    const asyncTx = await b64Tx({ key: alice, args: { by: 2 } });
    const a = await raw('broadcast_tx_async', [asyncTx.b64], 7);
    expect(a.body).toEqual({ jsonrpc: '2.0', id: 7, result: asyncTx.hash });
    const legacy = await raw('tx', [asyncTx.hash, 'alice.localnet']);
    expect(legacy.body.result.transaction.actions).toEqual([
      {
        FunctionCall: {
          method_name: 'increment',
          args: Buffer.from('{"by":2}').toString('base64'),
          gas: 30_000_000_000_000,
          deposit: '0',
        },
      },
    ]);
    const exp = await raw('EXPERIMENTAL_tx_status', { tx_hash: asyncTx.hash, sender_account_id: 'alice.localnet' });
    expect(exp.body.result.receipts).toHaveLength(1);

    const commit = await b64Tx({ key: alice, acts: [actions.transfer(5n)], receiverId: 'bob.localnet' });
    const c = await raw('broadcast_tx_commit', [commit.b64]);
    expect(c.body.result).toMatchObject({
      status: { SuccessValue: '' },
      transaction: { actions: [{ Transfer: { deposit: '5' } }] },
    });
    valid(T.RpcTransactionResponseSchema(), c.body.result);

    const failed = await raw('send_tx', { signed_tx_base64: (await b64Tx({ key: alice, method: 'boom' })).b64 });
    expect(failed.status).toBe(200);
    expect(failed.body.result.status).toEqual({
      Failure: {
        ActionError: { index: 0, kind: { FunctionCallError: { ExecutionError: 'Smart contract panicked: boom' } } },
      },
    });
    expect(failed.body.result.receipts_outcome[0].outcome.status).toEqual(failed.body.result.status);
    expect(failed.body.result.transaction_outcome.outcome.status).toHaveProperty('SuccessReceiptId');
    valid(T.RpcTransactionResponseSchema(), failed.body.result);
  });

  it('tx: unknown hash -> UNKNOWN_TRANSACTION with NONE, TIMEOUT_ERROR (408) otherwise', async () => {
    const hash = '4SKLfbnrk2BL8zKTVxLybwXLq8TMLgaCbBaJ9JHfdCCU';
    const u = await raw('tx', { tx_hash: hash, sender_account_id: 'alice.localnet', wait_until: 'NONE' });
    expect(u.status).toBe(200);
    expect(u.body.error).toEqual({
      name: 'HANDLER_ERROR',
      cause: { name: 'UNKNOWN_TRANSACTION', info: { requested_transaction_hash: hash } },
      code: -32000,
      message: 'Server error',
      data: `Transaction ${hash} doesn't exist`,
    });
    const t = await raw('tx', { tx_hash: hash, sender_account_id: 'alice.localnet' });
    expect(t.status).toBe(408);
    expect(t.body.error).toEqual({
      name: 'HANDLER_ERROR',
      cause: { name: 'TIMEOUT_ERROR' },
      code: -32000,
      message: 'Server error',
      data: 'Timeout',
    });
  });

  it('status, block and query agree on heights and hashes and match the schemas', async () => {
    chain.stop(); // hold the chain still while comparing
    try {
      const s = await raw('status', [], 'st');
      valid(T.JsonRpcResponseFor_RpcStatusResponseAnd_RpcErrorSchema(), s.body);
      expect(s.body.result.version.commit).toBeTypeOf('string');
      expect(s.body.result.sync_info.syncing).toBe(false);
      expect(s.body.result.chain_id).toBe('localnet');
      const head = s.body.result.sync_info.latest_block_height as number;
      expect(s.body.result.sync_info.latest_block_hash).toBe(chain.head.hash);

      const opt = await raw('block', { finality: 'optimistic' }, 'b');
      valid(T.JsonRpcResponseFor_RpcBlockResponseAnd_RpcErrorSchema(), opt.body);
      expect(opt.body.result.header.height).toBe(head);
      expect(opt.body.result.header.hash).toBe(s.body.result.sync_info.latest_block_hash);
      const fin = await raw('block', { finality: 'final' });
      expect(fin.body.result.header.height).toBe(head - 2);
      expect((await raw('block', [head - 2])).body.result.header.hash).toBe(fin.body.result.header.hash);
      expect((await raw('block', { block_id: fin.body.result.header.hash })).body.result.header.height).toBe(head - 2);
      expect(fin.body.result.header.prev_hash).toBe(
        (await raw('block', { block_id: head - 3 })).body.result.header.hash,
      );

      const va = await raw(
        'query',
        { request_type: 'view_account', finality: 'final', account_id: 'alice.localnet' },
        'q',
      );
      expect(va.body.result).toMatchObject({
        block_height: head - 2,
        block_hash: fin.body.result.header.hash,
        locked: '0',
        storage_paid_at: 0,
      });
      valid(T.JsonRpcResponseFor_RpcQueryResponseAnd_RpcErrorSchema(), va.body);
      valid(T.AccountViewSchema(), va.body.result);
      const ak = await raw('query', {
        request_type: 'view_access_key',
        block_id: head,
        account_id: 'alice.localnet',
        public_key: fcKey.getPublicKey().toString(),
      });
      expect(ak.body.result).toMatchObject({
        block_height: head,
        block_hash: s.body.result.sync_info.latest_block_hash,
        permission: { FunctionCall: { receiver_id: 'counter.localnet', method_names: ['increment'], allowance: null } },
      });
      valid(T.AccessKeyViewSchema(), ak.body.result);
      valid(T.RpcQueryResponseSchema(), ak.body.result);
      const list = await raw('query', {
        request_type: 'view_access_key_list',
        finality: 'optimistic',
        account_id: 'alice.localnet',
      });
      valid(T.AccessKeyListSchema(), list.body.result);
      valid(T.RpcQueryResponseSchema(), list.body.result);
      const cf = await raw('query', {
        request_type: 'call_function',
        finality: 'final',
        account_id: 'counter.localnet',
        method_name: 'get',
        args_base64: '',
      });
      expect(JSON.parse(Buffer.from(cf.body.result.result).toString())).toBe(counter.value);
      valid(T.CallResultSchema(), cf.body.result);
      valid(T.RpcQueryResponseSchema(), cf.body.result);
      const code = await raw('query', { request_type: 'view_code', finality: 'final', account_id: 'counter.localnet' });
      expect(code.body.result.hash).toBe(counter.codeHash);
      valid(T.RpcQueryResponseSchema(), code.body.result);
      // legacy path form
      expect((await raw('query', ['account/bob.localnet', ''])).body.result.amount).toBe(
        chain.viewAccount('bob.localnet')!.amount,
      );
    } finally {
      chain.start();
    }
  });

  it('query misses: UNKNOWN_ACCOUNT structured, unknown key and VM failures as HTTP-200 compat results', async () => {
    const ua = await raw('query', { request_type: 'view_account', finality: 'final', account_id: 'nobody.localnet' });
    expect(ua.status).toBe(200);
    expect(ua.body.error).toEqual({
      name: 'HANDLER_ERROR',
      code: -32000,
      message: 'Server error',
      data: 'account nobody.localnet does not exist while viewing',
      cause: {
        name: 'UNKNOWN_ACCOUNT',
        info: {
          requested_account_id: 'nobody.localnet',
          block_height: expect.any(Number),
          block_hash: expect.any(String),
        },
      },
    });
    valid(T.RpcErrorSchema(), ua.body.error);
    const pk = KeyPair.fromRandom('ed25519').getPublicKey().toString();
    const uk = await raw('query', {
      request_type: 'view_access_key',
      finality: 'final',
      account_id: 'alice.localnet',
      public_key: pk,
    });
    expect(uk.status).toBe(200);
    expect(uk.body.result).toEqual({
      error: `access key ${pk} does not exist while viewing`,
      logs: [],
      block_height: expect.any(Number),
      block_hash: expect.any(String),
    });
    const nm = await raw('query', {
      request_type: 'call_function',
      finality: 'final',
      account_id: 'counter.localnet',
      method_name: 'nope',
      args_base64: '',
    });
    expect(nm.body.result.error).toBe('wasm execution failed with error: MethodResolveError(MethodNotFound)');
    const nc = await raw('query', {
      request_type: 'call_function',
      finality: 'final',
      account_id: 'bob.localnet',
      method_name: 'get',
      args_base64: '',
    });
    expect(nc.body.result.error).toBe(
      'wasm execution failed with error: CompilationError(CodeDoesNotExist { account_id: "bob.localnet" })',
    );
    const ncc = await raw('query', { request_type: 'view_code', finality: 'final', account_id: 'bob.localnet' });
    expect(ncc.body.error.cause).toMatchObject({
      name: 'NO_CONTRACT_CODE',
      info: { contract_account_id: 'bob.localnet' },
    });
    expect(
      (await raw('query', { request_type: 'view_access_key_list', finality: 'final', account_id: 'nobody.localnet' }))
        .body.result.keys,
    ).toEqual([]);
  });

  it(
    'blocks: UNKNOWN_BLOCK 422 below the head, 200 above it; parse errors 400; ids echoed with ' + 'their type',
    async () => {
      const below = await raw('block', { block_id: 0 });
      expect(below.status).toBe(422);
      expect(below.body.error).toEqual({
        name: 'HANDLER_ERROR',
        cause: { name: 'UNKNOWN_BLOCK', info: {} },
        code: -32000,
        message: 'Server error',
        data: 'DB Not Found Error: BLOCK HEIGHT: 0 \n Cause: Unknown',
      });
      const future = await raw('block', { block_id: chain.head.height + 1000 });
      expect(future.status).toBe(200);
      expect(future.body.error.cause.name).toBe('UNKNOWN_BLOCK');
      const q = await raw('query', { request_type: 'view_account', block_id: 0, account_id: 'alice.localnet' });
      expect(q.body.error.cause).toEqual({ name: 'UNKNOWN_BLOCK', info: { block_reference: { block_id: 0 } } });

      const res = await fetch(rpc.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"jsonrpc":',
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({
        jsonrpc: '2.0',
        id: null,
        error: {
          name: 'REQUEST_VALIDATION_ERROR',
          cause: { name: 'PARSE_ERROR' },
          code: -32700,
          message: 'Parse error',
        },
      });
      const mnf = await raw('nope', {}, 42);
      expect(mnf.status).toBe(400);
      expect(mnf.body).toEqual({
        jsonrpc: '2.0',
        id: 42,
        error: {
          name: 'REQUEST_VALIDATION_ERROR',
          cause: { name: 'METHOD_NOT_FOUND', info: { method_name: 'nope' } },
          code: -32601,
          message: 'Method not found',
          data: 'nope',
        },
      });
      expect((await raw('status', [], 'abc')).body.id).toBe('abc');
      expect((await raw('status', [], 5)).body.id).toBe(5);

      const st = await fetch(`${rpc.url}/status`);
      expect(((await st.json()) as { chain_id: string }).chain_id).toBe('localnet');
      expect((await fetch(`${rpc.url}/health`)).status).toBe(200);
    },
  );

  it('faults: injected 500s, send_tx timeouts that apply nothing, latency', async () => {
    rpc.faults.failNext5xx = 1;
    const f = await raw('status', [], 'x');
    expect(f.status).toBe(500);
    expect(f.body).toMatchObject({
      id: 'x',
      error: { name: 'INTERNAL_ERROR', cause: { name: 'INTERNAL_ERROR', info: { error_message: expect.any(String) } } },
    });
    expect((await raw('status', [])).status).toBe(200);

    rpc.faults.timeoutNext = 1;
    const tx = await b64Tx({ key: alice });
    const t = await raw('send_tx', { signed_tx_base64: tx.b64 });
    expect(t.status).toBe(408);
    expect(t.body.error.cause).toEqual({ name: 'TIMEOUT_ERROR' });
    expect(
      (await raw('tx', { tx_hash: tx.hash, sender_account_id: 'alice.localnet', wait_until: 'NONE' })).body.error.cause
        .name,
    ).toBe('UNKNOWN_TRANSACTION');
    expect((await raw('send_tx', { signed_tx_base64: tx.b64 })).body.result.transaction.hash).toBe(tx.hash);

    const s = rpc.stats();
    expect(s.calls.send_tx).toBeGreaterThan(3);
    expect(s.byRequestType.view_access_key).toBeGreaterThan(0);
    expect(s.errors.TIMEOUT_ERROR).toBeGreaterThan(0);
  });
});
