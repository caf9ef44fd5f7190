/** The NEAR chain model on its own: blocks, nearcore's validation order and error shapes, action application. */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { KeyPair, actions, baseEncode } from 'near-api-js';
import { createChain, InvalidTx, NONCE_MULTIPLIER, type Chain, type TxRecord } from '../../twin/near/chain.ts';
import { counterContract, nextNonce, seedAccounts, signTx, thrown, NEAR, TGAS } from './near-support.ts';

function setup(o: { transactionValidityPeriod?: number } = {}) {
  const chain = createChain({ chainId: 'localnet', ...o });
  const { alice, fcKey, counter } = seedAccounts(chain);
  for (let i = 0; i < 3; i++) chain.produceBlock();
  return { chain, alice, fcKey, counter };
}

const invalid = (e: unknown) => {
  expect(e).toBeInstanceOf(InvalidTx);
  return (e as InvalidTx).data;
};

async function call(
  chain: Chain,
  key: KeyPair,
  method: string,
  args: object,
  o: {
    nonce?: bigint;
    gas?: bigint;
    deposit?: bigint;
    receiverId?: string;
    signerId?: string;
    blockHash?: string;
  } = {},
) {
  const signerId = o.signerId ?? 'alice.localnet';
  return signTx({
    signerId,
    key,
    receiverId: o.receiverId ?? 'counter.localnet',
    nonce: o.nonce ?? nextNonce(chain, signerId, key),
    blockHash: o.blockHash ?? chain.head.hash,
    actions: [actions.functionCall(method, args, o.gas ?? 30n * TGAS, o.deposit ?? 0n)],
  });
}

describe('blocks', () => {
  it('advance with produceBlock; final lags the head by two; lookups agree', () => {
    const chain = createChain({});
    expect(chain.head.height).toBe(1);
    expect(chain.finalBlock.height).toBe(1);
    const seen: number[] = [];
    const off = chain.onBlock((b) => seen.push(b.height));
    chain.produceBlock();
    chain.produceBlock();
    off();
    chain.produceBlock();
    expect(seen).toEqual([2, 3]);
    expect(chain.head.height).toBe(4);
    expect(chain.finalBlock.height).toBe(2);
    const b = chain.blockByHeight(3)!;
    expect(chain.blockByHash(b.hash)).toBe(b);
    expect(chain.blockByHeight(4)!.prevHash).toBe(b.hash);
    expect(chain.decodeHash(b.hash)).toHaveLength(32);
    expect(chain.blockByHeight(99)).toBeUndefined();
  });

  it('advance on the clock and stop when stopped', async () => {
    const chain = createChain({ blockTimeMs: 20 });
    chain.start();
    await new Promise<void>((ok) => {
      const off = chain.onBlock((b) => {
        if (b.height >= 4) {
          off();
          ok();
        }
      });
    });
    chain.stop();
    const h = chain.head.height;
    await new Promise((r) => setTimeout(r, 60));
    expect(chain.head.height).toBe(h);
  });

  it('keeps a bounded history', () => {
    const chain = createChain({});
    const first = chain.head.hash;
    for (let i = 0; i < 1100; i++) chain.produceBlock();
    expect(chain.blockByHash(first)).toBeUndefined();
    expect(chain.earliestBlock().height).toBeGreaterThan(1);
    expect(chain.blockByHeight(chain.earliestBlock().height)).toBe(chain.earliestBlock());
  });
});

describe('submit: nearcore validation and error shapes', () => {
  it('rejects a tampered signature', async () => {
    const { chain, alice } = setup();
    const { bytes } = await call(chain, alice, 'increment', {});
    bytes[bytes.length - 5]! ^= 0xff;
    expect(invalid(thrown(() => chain.submit(bytes)))).toBe('InvalidSignature');
  });

  it('rejects an unknown signer, then an unknown key', async () => {
    const { chain, alice } = setup();
    const stranger = KeyPair.fromRandom('ed25519');
    const a = await call(chain, alice, 'increment', {}, { signerId: 'nobody.localnet', nonce: 1n });
    expect(invalid(thrown(() => chain.submit(a.bytes)))).toEqual({
      SignerDoesNotExist: { signer_id: 'nobody.localnet' },
    });
    const b = await call(chain, stranger, 'increment', {}, { nonce: 1n });
    expect(invalid(thrown(() => chain.submit(b.bytes)))).toEqual({
      InvalidAccessKeyError: {
        AccessKeyNotFound: { account_id: 'alice.localnet', public_key: stranger.getPublicKey().toString() },
      },
    });
  });

  it('checks nonces: replay -> InvalidNonce, too far ahead -> NonceTooLarge', async () => {
    const { chain, alice } = setup();
    const first = await call(chain, alice, 'increment', {}, { nonce: 7n });
    chain.submit(first.bytes);
    chain.produceBlock();
    expect(chain.viewAccessKey('alice.localnet', alice.getPublicKey().toString())!.nonce).toBe(7);
    const replay = await call(chain, alice, 'increment', { by: 2 }, { nonce: 7n });
    expect(invalid(thrown(() => chain.submit(replay.bytes)))).toEqual({ InvalidNonce: { tx_nonce: 7, ak_nonce: 7 } });
    const upper = chain.head.height * 1_000_000;
    const far = await call(chain, alice, 'increment', {}, { nonce: BigInt(upper) });
    expect(invalid(thrown(() => chain.submit(far.bytes)))).toEqual({
      NonceTooLarge: { tx_nonce: upper, upper_bound: upper },
    });
  });

  it('checks the block hash: unknown -> InvalidChain, too old -> Expired', async () => {
    const { chain, alice } = setup({ transactionValidityPeriod: 5 });
    const foreign = await call(
      chain,
      alice,
      'increment',
      {},
      { blockHash: '4SKLfbnrk2BL8zKTVxLybwXLq8TMLgaCbBaJ9JHfdCCU' },
    );
    expect(invalid(thrown(() => chain.submit(foreign.bytes)))).toBe('InvalidChain');
    const old = chain.head.hash;
    for (let i = 0; i < 5; i++) chain.produceBlock();
    chain.submit((await call(chain, alice, 'increment', {}, { blockHash: old })).bytes); // exactly at the limit: fine
    chain.produceBlock();
    const stale = await call(chain, alice, 'increment', {}, { blockHash: old });
    expect(invalid(thrown(() => chain.submit(stale.bytes)))).toBe('Expired');
  });

  it('checks FunctionCall-key permissions', async () => {
    const { chain, fcKey } = setup();
    const other = await call(chain, fcKey, 'increment', {}, { receiverId: 'localnet' });
    expect(invalid(thrown(() => chain.submit(other.bytes)))).toEqual({
      InvalidAccessKeyError: { ReceiverMismatch: { tx_receiver: 'localnet', ak_receiver: 'counter.localnet' } },
    });
    const method = await call(chain, fcKey, 'boom', {});
    expect(invalid(thrown(() => chain.submit(method.bytes)))).toEqual({
      InvalidAccessKeyError: { MethodNameMismatch: { method_name: 'boom' } },
    });
    const deposit = await call(chain, fcKey, 'increment', {}, { deposit: 1n });
    expect(invalid(thrown(() => chain.submit(deposit.bytes)))).toEqual({
      InvalidAccessKeyError: 'DepositWithFunctionCall',
    });
    const transfer = await signTx({
      signerId: 'alice.localnet',
      key: fcKey,
      receiverId: 'counter.localnet',
      nonce: nextNonce(chain, 'alice.localnet', fcKey),
      blockHash: chain.head.hash,
      actions: [actions.transfer(1n)],
    });
    expect(invalid(thrown(() => chain.submit(transfer.bytes)))).toEqual({
      InvalidAccessKeyError: 'RequiresFullAccess',
    });
    chain.submit((await call(chain, fcKey, 'increment', {})).bytes);
  });

  it('checks zero gas and balance', async () => {
    const { chain, alice } = setup();
    const zero = await call(chain, alice, 'increment', {}, { gas: 0n });
    expect(invalid(thrown(() => chain.submit(zero.bytes)))).toEqual({
      ActionsValidation: 'FunctionCallZeroAttachedGas',
    });
    const rich = await signTx({
      signerId: 'alice.localnet',
      key: alice,
      receiverId: 'localnet',
      nonce: nextNonce(chain, 'alice.localnet', alice),
      blockHash: chain.head.hash,
      actions: [actions.transfer(11n * NEAR)],
    });
    const e = invalid(thrown(() => chain.submit(rich.bytes))) as {
      NotEnoughBalance: { signer_id: string; balance: string; cost: string };
    };
    expect(e.NotEnoughBalance.signer_id).toBe('alice.localnet');
    expect(e.NotEnoughBalance.balance).toBe((10n * NEAR).toString());
    expect(BigInt(e.NotEnoughBalance.cost)).toBeGreaterThan(11n * NEAR);
  });

  it("checks balance, then allowance, then the key's receiver and methods (nearcore's order)", async () => {
    const { chain, fcKey } = setup();
    const pk = fcKey.getPublicKey().toString();
    const cost = (2_428_000_000_000n + 30n * TGAS) * 100_000_000n; // (tx conversion + prepaid gas) × gas price
    const limited = (allowance: bigint) =>
      chain.setKeyPermission('alice.localnet', pk, {
        FunctionCall: { receiver_id: 'counter.localnet', method_names: ['increment'], allowance: allowance.toString() },
      });
    // a wrong method on a key whose allowance cannot pay: the allowance is what nearcore reports
    limited(cost - 1n);
    const wrongMethod = await call(chain, fcKey, 'boom', {});
    expect(invalid(thrown(() => chain.submit(wrongMethod.bytes)))).toEqual({
      InvalidAccessKeyError: {
        NotEnoughAllowance: {
          account_id: 'alice.localnet',
          public_key: pk,
          allowance: (cost - 1n).toString(),
          cost: cost.toString(),
        },
      },
    });
    // …and an account that cannot pay fails on its balance before the allowance is looked at
    chain.setBalance('alice.localnet', cost - 2n);
    expect(invalid(thrown(() => chain.submit(wrongMethod.bytes)))).toEqual({
      NotEnoughBalance: { signer_id: 'alice.localnet', balance: (cost - 2n).toString(), cost: cost.toString() },
    });
    // with balance and allowance enough, the permission speaks
    chain.setBalance('alice.localnet', 10n * NEAR);
    limited(3n * cost);
    expect(invalid(thrown(() => chain.submit(wrongMethod.bytes)))).toEqual({
      InvalidAccessKeyError: { MethodNameMismatch: { method_name: 'boom' } },
    });
    // inclusion takes the whole cost from the allowance (never refunded): two calls fit, the third does not
    for (let i = 0; i < 2; i++) {
      chain.submit((await call(chain, fcKey, 'increment', {})).bytes);
      chain.produceBlock();
    }
    expect(chain.viewAccessKey('alice.localnet', pk)!.permission).toMatchObject({
      FunctionCall: { allowance: cost.toString() },
    });
    chain.submit((await call(chain, fcKey, 'increment', {})).bytes);
    chain.produceBlock();
    const third = await call(chain, fcKey, 'increment', {});
    expect(invalid(thrown(() => chain.submit(third.bytes)))).toMatchObject({
      InvalidAccessKeyError: { NotEnoughAllowance: { allowance: '0', cost: cost.toString() } },
    });
  });

  it('setup helpers: an account without code, a balance, a key permission', () => {
    const { chain, fcKey } = setup();
    chain.removeContract('counter.localnet');
    expect(chain.viewAccount('counter.localnet')!.code_hash).toBe('11111111111111111111111111111111');
    expect(chain.callView('counter.localnet', 'get', new Uint8Array())).toEqual({
      ok: false,
      error: 'VmError',
      message:
        'wasm execution failed with error: CompilationError(CodeDoesNotExist { account_id: "counter.localnet" })',
    });
    chain.setBalance('alice.localnet', 5n);
    expect(chain.viewAccount('alice.localnet')!.amount).toBe('5');
    const nonce = chain.viewAccessKey('alice.localnet', fcKey.getPublicKey().toString())!.nonce;
    chain.setKeyPermission('alice.localnet', fcKey.getPublicKey().toString(), 'FullAccess');
    expect(chain.viewAccessKey('alice.localnet', fcKey.getPublicKey().toString())).toEqual({
      nonce,
      permission: 'FullAccess',
    });
    expect(() =>
      chain.setKeyPermission('alice.localnet', KeyPair.fromRandom('ed25519').getPublicKey().toString(), 'FullAccess'),
    ).toThrow(/no access key/);
  });

  it('is idempotent for an identical tx and counts what it saw', async () => {
    const { chain, alice, counter } = setup();
    const tx = await call(chain, alice, 'increment', {});
    const a = chain.submit(tx.bytes);
    const b = chain.submit(tx.bytes);
    expect(b).toBe(a);
    expect(a.hash).toBe(tx.hash);
    chain.produceBlock();
    expect(chain.submit(tx.bytes)).toBe(a);
    expect(counter.value).toBe(1);
    expect(chain.stats.txDuplicate).toBe(2);
    expect(chain.stats.txApplied).toBe(1);
  });
});

describe('applying transactions', () => {
  it('applies a FunctionCall in the next block and records the outcome', async () => {
    const { chain, alice, counter } = setup();
    const tx = await call(chain, alice, 'increment', { by: 5 });
    const rec = chain.submit(tx.bytes);
    expect(rec.status).toBeUndefined();
    expect(counter.value).toBe(0);
    const block = chain.produceBlock();
    expect(rec.includedIn).toBe(block);
    expect(block.txHashes).toEqual([tx.hash]);
    expect(rec.status).toEqual({ SuccessValue: Buffer.from('5').toString('base64') });
    expect(rec.logs).toEqual(['incremented by 5']);
    expect(chain.callView('counter.localnet', 'get', new Uint8Array())).toMatchObject({
      ok: true,
      result: new Uint8Array(Buffer.from('5')),
    });
  });

  it('turns contract failures into ActionErrors and rolls back the tx', async () => {
    const { chain, alice } = setup();
    const before = chain.getAccount('counter.localnet')!.amount;
    const failures: [string, string, unknown][] = [
      ['boom', '{}', { FunctionCallError: { ExecutionError: 'Smart contract panicked: boom' } }],
      ['nope', '{}', { FunctionCallError: { MethodResolveError: 'MethodNotFound' } }],
      [
        'increment',
        '{not json',
        { FunctionCallError: { ExecutionError: 'Smart contract panicked: Failed to deserialize input from JSON.' } },
      ],
    ];
    let nonce = nextNonce(chain, 'alice.localnet', alice);
    const recs: TxRecord[] = [];
    for (const [method, args] of failures) {
      const tx = await signTx({
        signerId: 'alice.localnet',
        key: alice,
        receiverId: 'counter.localnet',
        nonce: nonce++,
        blockHash: chain.head.hash,
        actions: [
          actions.transfer(3n),
          actions.functionCall(method, new Uint8Array(Buffer.from(args)), 30n * TGAS, 0n),
        ],
      });
      recs.push(chain.submit(tx.bytes));
    }
    const nocode = await signTx({
      signerId: 'alice.localnet',
      key: alice,
      receiverId: 'localnet',
      nonce: nonce++,
      blockHash: chain.head.hash,
      actions: [actions.functionCall('x', {}, 30n * TGAS, 0n)],
    });
    const nc = chain.submit(nocode.bytes);
    chain.produceBlock();
    failures.forEach(([, , kind], i) => {
      expect(recs[i]!.status).toEqual({ Failure: { ActionError: { index: 1, kind } } });
    });
    expect(nc.status).toEqual({
      Failure: {
        ActionError: {
          index: 0,
          kind: { FunctionCallError: { CompilationError: { CodeDoesNotExist: { account_id: 'localnet' } } } },
        },
      },
    });
    expect(chain.getAccount('counter.localnet')!.amount).toBe(before); // the transfers were rolled back
    // nonces still used
    expect(chain.viewAccessKey('alice.localnet', alice.getPublicKey().toString())!.nonce).toBe(Number(nonce - 1n));
    expect(chain.stats.txFailed).toBe(4);
  });

  it('creates sub-accounts only for the parent; new keys start at (height-1)*1e6', async () => {
    const { chain, alice } = setup();
    const newKey = KeyPair.fromRandom('ed25519');
    let nonce = nextNonce(chain, 'alice.localnet', alice);
    const ok = await signTx({
      signerId: 'alice.localnet',
      key: alice,
      receiverId: 'bob.alice.localnet',
      nonce: nonce++,
      blockHash: chain.head.hash,
      actions: [actions.createAccount(), actions.transfer(NEAR), actions.addFullAccessKey(newKey.getPublicKey())],
    });
    const notParent = await signTx({
      signerId: 'alice.localnet',
      key: alice,
      receiverId: 'carol.localnet',
      nonce: nonce++,
      blockHash: chain.head.hash,
      actions: [actions.createAccount()],
    });
    const r1 = chain.submit(ok.bytes);
    const r2 = chain.submit(notParent.bytes);
    const block = chain.produceBlock();
    expect(r1.status).toEqual({ SuccessValue: '' });
    expect(r2.status).toEqual({
      Failure: {
        ActionError: {
          index: 0,
          kind: { CreateAccountNotAllowed: { account_id: 'carol.localnet', predecessor_id: 'alice.localnet' } },
        },
      },
    });
    expect(chain.getAccount('carol.localnet')).toBeUndefined();
    expect(chain.viewAccount('bob.alice.localnet')!.amount).toBe(NEAR.toString());
    expect(chain.viewAccessKey('bob.alice.localnet', newKey.getPublicKey().toString())).toEqual({
      nonce: Number(BigInt(block.height - 1) * NONCE_MULTIPLIER),
      permission: 'FullAccess',
    });
    // the new key signs for the new account
    const own = await signTx({
      signerId: 'bob.alice.localnet',
      key: newKey,
      receiverId: 'counter.localnet',
      nonce: nextNonce(chain, 'bob.alice.localnet', newKey),
      blockHash: chain.head.hash,
      actions: [actions.functionCall('whoami', {}, TGAS, 0n)],
    });
    const r3 = chain.submit(own.bytes);
    chain.produceBlock();
    expect(JSON.parse(Buffer.from((r3.status as { SuccessValue: string }).SuccessValue, 'base64').toString())).toEqual({
      signer: 'bob.alice.localnet',
      key: newKey.getPublicKey().toString(),
      deposit: '0',
    });
  });

  it('AddKey/DeleteKey on another account need permission; DeployContract stores the code hash', async () => {
    const { chain, alice } = setup();
    const k = KeyPair.fromRandom('ed25519');
    let nonce = nextNonce(chain, 'alice.localnet', alice);
    const foreign = await signTx({
      signerId: 'alice.localnet',
      key: alice,
      receiverId: 'counter.localnet',
      nonce: nonce++,
      blockHash: chain.head.hash,
      actions: [actions.addFullAccessKey(k.getPublicKey())],
    });
    const own = await signTx({
      signerId: 'alice.localnet',
      key: alice,
      receiverId: 'alice.localnet',
      nonce: nonce++,
      blockHash: chain.head.hash,
      actions: [actions.addFullAccessKey(k.getPublicKey()), actions.deployContract(new Uint8Array([0, 97, 115, 109]))],
    });
    const r1 = chain.submit(foreign.bytes);
    const r2 = chain.submit(own.bytes);
    chain.produceBlock();
    expect(r1.status).toEqual({
      Failure: {
        ActionError: {
          index: 0,
          kind: { ActorNoPermission: { account_id: 'counter.localnet', actor_id: 'alice.localnet' } },
        },
      },
    });
    expect(r2.status).toEqual({ SuccessValue: '' });
    expect(chain.viewAccount('alice.localnet')!.code_hash).toBe(
      baseEncode(
        createHash('sha256')
          .update(new Uint8Array([0, 97, 115, 109]))
          .digest(),
      ),
    );
    expect(chain.viewCode('alice.localnet')).toMatchObject({ hash: chain.viewAccount('alice.localnet')!.code_hash });
    expect(chain.accessKeys('alice.localnet').map((x) => x.publicKey)).toContain(k.getPublicKey().toString());
    const del = await signTx({
      signerId: 'alice.localnet',
      key: alice,
      receiverId: 'alice.localnet',
      nonce: nonce++,
      blockHash: chain.head.hash,
      actions: [actions.deleteKey(k.getPublicKey()), actions.deleteKey(k.getPublicKey())],
    });
    const r3 = chain.submit(del.bytes);
    chain.produceBlock();
    expect(r3.status).toEqual({
      Failure: {
        ActionError: {
          index: 1,
          kind: { DeleteKeyDoesNotExist: { account_id: 'alice.localnet', public_key: k.getPublicKey().toString() } },
        },
      },
    });
    expect(chain.viewAccessKey('alice.localnet', k.getPublicKey().toString())).toBeDefined(); // rolled back
  });

  it('drops a second tx with the same nonce at inclusion', async () => {
    const { chain, alice, counter } = setup();
    const nonce = nextNonce(chain, 'alice.localnet', alice);
    const a = await call(chain, alice, 'increment', { by: 1 }, { nonce });
    const b = await call(chain, alice, 'increment', { by: 100 }, { nonce });
    chain.submit(a.bytes);
    chain.submit(b.bytes);
    chain.produceBlock();
    expect(counter.value).toBe(1);
    expect(chain.tx(b.hash)).toBeUndefined();
    expect(chain.stats.txDropped).toBe(1);
  });

  it('views: unknown account, compat VM errors, key lists', () => {
    const { chain, alice } = setup();
    expect(chain.viewAccount('nobody.localnet')).toBeUndefined();
    expect(chain.callView('nobody.localnet', 'get', new Uint8Array())).toEqual({
      ok: false,
      error: 'AccountDoesNotExist',
    });
    expect(chain.callView('localnet', 'get', new Uint8Array())).toEqual({
      ok: false,
      error: 'VmError',
      message: 'wasm execution failed with error: CompilationError(CodeDoesNotExist { account_id: "localnet" })',
    });
    expect(chain.callView('counter.localnet', 'nope', new Uint8Array())).toMatchObject({
      message: 'wasm execution failed with error: MethodResolveError(MethodNotFound)',
    });
    expect(chain.callView('counter.localnet', 'boom', new Uint8Array())).toMatchObject({
      message: 'wasm execution failed with error: HostError(GuestPanic { panic_msg: "view boom" })',
    });
    expect(chain.viewAccessKeyList('nobody.localnet')).toEqual({ keys: [] });
    expect(chain.viewAccessKeyList('alice.localnet').keys).toContainEqual({
      public_key: alice.getPublicKey().toString(),
      access_key: { nonce: 0, permission: 'FullAccess' },
    });
    expect(chain.viewCode('localnet')).toBe('NoContractCode');
    expect(chain.viewCode('counter.localnet')).toEqual({ code_base64: '', hash: counterContract().codeHash });
    chain.deleteAccessKey('alice.localnet', alice.getPublicKey().toString());
    expect(chain.viewAccessKey('alice.localnet', alice.getPublicKey().toString())).toBeUndefined();
  });
});
