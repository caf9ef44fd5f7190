/**
 * Every error shape the failure-mode scenarios show the runbook, checked on the wire (raw JSON-RPC, as
 * nearcore answers: near-rpc-facts §3.4, §7.3, §7.4) and as near-api-js 7 turns it into an error class
 * and message (§8.1), plus the node's rendering of each InvalidTx (nearcore Debug, as its log shows it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonRpcProvider, KeyPair, KeyPairSigner, actions, baseDecode, createTransaction } from 'near-api-js';
import {
  AccessKeyMethodNameMismatchActionError,
  AccessKeyNotEnoughAllowanceActionError,
  AccessKeyReceiverMismatchActionError,
  ContractCodeDoesNotExistError,
  ContractMethodNotFoundError,
  NotEnoughBalanceError,
  RpcError,
} from 'near-api-js/rpc-errors';
import { createChain, GAS_PRICE, TX_GAS_BURNT, type Chain } from '../../twin/near/chain.ts';
import { startNearRpc, type NearRpcServer } from '../../twin/near/rpc.ts';
import { createMpcContract } from '../../twin/contract/mpc-contract.ts';
import { createOtherContract, OTHER_CONTRACT_CODE_HASH } from '../../twin/contract/other-contract.ts';
import { describeInvalidTx } from '../../twin/node/node-logic.ts';
import { NEAR, TGAS } from './near-support.ts';

const BLOCK_MS = 50;
/** What every node call costs the signer: (tx conversion + 300 TGas prepaid) × gas price, no deposit. */
const NODE_CALL_COST = (TX_GAS_BURNT + 300n * TGAS) * GAS_PRICE;
/** The node's methods before the TEE era (no submit_participant_info, verify_tee, respond_ckd). */
const PRE_TEE_METHODS = [
  'respond',
  'vote_pk',
  'start_keygen_instance',
  'vote_reshared',
  'start_reshare_instance',
  'vote_abort_key_event_instance',
];

let chain: Chain;
let rpc: NearRpcServer;
let provider: JsonRpcProvider;
const keys = new Map<string, KeyPair>();

function nodeAccount(chain: Chain, id: string, permission: Parameters<Chain['addAccessKey']>[2], balance = 10n * NEAR) {
  const key = KeyPair.fromRandom('ed25519');
  keys.set(id, key);
  chain.createAccount(id, { balance, keys: [{ publicKey: key.getPublicKey().toString(), permission }] });
}

beforeAll(async () => {
  chain = createChain({ chainId: 'localnet', blockTimeMs: BLOCK_MS });
  chain.createAccount('localnet', { balance: 1000n * NEAR });
  for (const id of ['uninit.localnet', 'nodomain.localnet', 'nocode.localnet', 'other.localnet'])
    chain.createAccount(id, { balance: 50n * NEAR });
  chain.deployContract('uninit.localnet', createMpcContract()); // deployed, init never called
  const running = createMpcContract();
  chain.deployContract('nodomain.localnet', running);
  const fc = (receiver_id: string, method_names: string[], allowance: string | null = null) => ({
    FunctionCall: { receiver_id, method_names, allowance },
  });
  nodeAccount(chain, 'methods.localnet', fc('nodomain.localnet', PRE_TEE_METHODS));
  nodeAccount(chain, 'receiver.localnet', fc('other.localnet', []));
  nodeAccount(chain, 'allowance.localnet', fc('nodomain.localnet', [], (NODE_CALL_COST / 3n).toString()));
  nodeAccount(chain, 'broke.localnet', 'FullAccess', NEAR / 100n);
  const participants = ['methods.localnet', 'receiver.localnet', 'allowance.localnet'].map((id, i) => [
    id,
    i,
    { url: `http://127.0.0.1:${8080 + i}`, sign_pk: KeyPair.fromRandom('ed25519').getPublicKey().toString() },
  ]);
  const init = running.call(
    'init',
    { parameters: { participants: { next_id: 3, participants }, threshold: 2 } },
    {
      contractId: 'nodomain.localnet',
      blockHeight: 1,
      signerId: 'localnet',
      signerPublicKey: 'ed25519:11111111111111111111111111111111',
      predecessorId: 'localnet',
      attachedDeposit: 0n,
      prepaidGas: 300n * TGAS,
    },
  );
  expect(init.ok).toBe(true); // Running with zero domains: domain voting never happened
  chain.deployContract('other.localnet', createOtherContract());
  chain.start();
  rpc = await startNearRpc({ chain });
  provider = new JsonRpcProvider({ url: rpc.url }, { retries: 1, wait: 20 });
  while (chain.head.height < 4) await new Promise((r) => setTimeout(r, BLOCK_MS));
});

afterAll(async () => {
  await rpc?.stop();
  chain?.stop();
});

async function raw(method: string, params: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(rpc.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 'dontcare', method, params }),
  });
  return { status: res.status, body: await res.json() };
}

const view = (account_id: string, method_name: string, args: object = {}) =>
  raw('query', {
    request_type: 'call_function',
    finality: 'final',
    account_id,
    method_name,
    args_base64: Buffer.from(JSON.stringify(args)).toString('base64'),
  });

const thrownBy = (p: Promise<unknown>) =>
  p.then(
    () => expect.fail('expected a rejection') as never,
    (e: unknown) => e,
  );

describe('contract views on a broken MPC_CONTRACT_ID', () => {
  it('deployed, never initialised: state-loading views panic "Calling default not allowed."', async () => {
    for (const method of ['state', 'version', 'public_key', 'config']) {
      const r = await view('uninit.localnet', method);
      expect(r.status).toBe(200);
      expect(r.body.result).toEqual({
        error: 'wasm execution failed with error: HostError(GuestPanic { panic_msg: "Calling default not allowed." })',
        logs: [],
        block_height: expect.any(Number),
        block_hash: expect.any(String),
      });
      const e = await thrownBy(provider.callFunction({ contractId: 'uninit.localnet', method, args: {} }));
      // near-api-js has no class for a guest panic: the base RpcError carrying the compat text
      expect((e as Error).constructor).toBe(RpcError);
      expect((e as Error).message).toBe(
        'wasm execution failed with error: HostError(GuestPanic { panic_msg: "Calling default not allowed." })',
      );
    }
    expect((await provider.viewAccount({ accountId: 'uninit.localnet' })).code_hash).toBe(
      '4SKLfbnrk2BL8zKTVxLybwXLq8TMLgaCbBaJ9JHfdCCU',
    );
  });

  it('Running with zero domains: public_key fails "No such domain."; state and version answer', async () => {
    const state = (await provider.callFunction({ contractId: 'nodomain.localnet', method: 'state', args: {} })) as any;
    expect(state.Running.domains).toEqual({ domains: [], next_domain_id: 0 });
    expect(state.Running.keyset).toEqual({ epoch_id: 0, domains: [] });
    expect(await provider.callFunction({ contractId: 'nodomain.localnet', method: 'version', args: {} })).toBe('3.0.2');
    for (const [method, args] of [
      ['public_key', { domain_id: 0 }],
      ['derived_public_key', { path: 'ethereum-test', predecessor: 'test.localnet', domain_id: 0 }],
    ] as const) {
      const r = await view('nodomain.localnet', method, args);
      expect(r.body.result.error).toBe(
        'wasm execution failed with error: HostError(GuestPanic { panic_msg: "No such domain." })',
      );
      const e = await thrownBy(provider.callFunction({ contractId: 'nodomain.localnet', method, args }));
      expect((e as Error).constructor).toBe(RpcError);
      expect((e as Error).message).toContain('panic_msg: "No such domain."');
    }
  });

  it('an account without code: code_hash 1111…, CodeDoesNotExist views, NO_CONTRACT_CODE for view_code', async () => {
    const acc = await provider.viewAccount({ accountId: 'nocode.localnet' });
    expect(acc.code_hash).toBe('11111111111111111111111111111111');
    const r = await view('nocode.localnet', 'state');
    expect(r.status).toBe(200);
    expect(r.body.result.error).toBe(
      'wasm execution failed with error: CompilationError(CodeDoesNotExist { account_id: "nocode.localnet" })',
    );
    const e = await thrownBy(provider.callFunction({ contractId: 'nocode.localnet', method: 'state', args: {} }));
    expect(e).toBeInstanceOf(ContractCodeDoesNotExistError);
    expect((e as Error).message).toMatch(
      /^Contract code for contract ID nocode\.localnet does not exist at block height \d+$/,
    );
    const code = await raw('query', { request_type: 'view_code', finality: 'final', account_id: 'nocode.localnet' });
    expect(code.body.error).toEqual({
      name: 'HANDLER_ERROR',
      cause: {
        name: 'NO_CONTRACT_CODE',
        info: {
          contract_account_id: 'nocode.localnet',
          block_height: expect.any(Number),
          block_hash: expect.any(String),
        },
      },
      code: -32000,
      message: 'Server error',
      data: 'Contract code for contract ID #nocode.localnet has never been observed on the node',
    });
    const e2 = await thrownBy(provider.viewContractCode({ contractId: 'nocode.localnet' }));
    expect(e2).toBeInstanceOf(ContractCodeDoesNotExistError);
  });

  it("another contract's code: an unknown code hash, and the MPC views are methods it does not export", async () => {
    expect((await provider.viewAccount({ accountId: 'other.localnet' })).code_hash).toBe(OTHER_CONTRACT_CODE_HASH);
    for (const method of ['state', 'version', 'public_key']) {
      const r = await view('other.localnet', method);
      expect(r.body.result.error).toBe('wasm execution failed with error: MethodResolveError(MethodNotFound)');
      const e = await thrownBy(provider.callFunction({ contractId: 'other.localnet', method, args: {} }));
      expect(e).toBeInstanceOf(ContractMethodNotFoundError);
      expect((e as Error).message).toMatch(/^Contract method is not found at block height \d+$/);
    }
    expect(await provider.callFunction({ contractId: 'other.localnet', method: 'get_greeting', args: {} })).toBe(
      'Hello',
    );
  });
});

/** A node's call (300 TGas, no deposit) signed with the account's key, as bytes and as near-api-js sends it. */
async function nodeCall(signerId: string, receiverId: string, method: string) {
  const key = keys.get(signerId)!;
  const ak = await provider.viewAccessKey({ accountId: signerId, publicKey: key.getPublicKey() });
  const block = await provider.viewBlock({ finality: 'final' });
  const tx = createTransaction(
    signerId,
    key.getPublicKey(),
    receiverId,
    BigInt(ak.nonce) + 1n,
    [actions.functionCall(method, {}, 300n * TGAS, 0n)],
    baseDecode(block.header.hash),
  );
  const { signedTransaction } = await new KeyPairSigner(key).signTransaction(tx);
  return { b64: Buffer.from(signedTransaction.encode()).toString('base64'), signedTransaction };
}

async function rejected(signerId: string, receiverId: string, method: string) {
  const { b64, signedTransaction } = await nodeCall(signerId, receiverId, method);
  const r = await raw('send_tx', { signed_tx_base64: b64, wait_until: 'EXECUTED_OPTIMISTIC' });
  expect(r.status).toBe(200);
  expect(r.body.error).toMatchObject({
    name: 'HANDLER_ERROR',
    cause: { name: 'INVALID_TRANSACTION', info: {} },
    code: -32000,
    message: 'Server error',
  });
  const e = await thrownBy(provider.sendTransactionUntil(signedTransaction, 'EXECUTED_OPTIMISTIC'));
  const pk = keys.get(signerId)!.getPublicKey().toString();
  return { data: r.body.error.data.TxExecutionError.InvalidTxError, e, pk };
}

describe("a node's transactions with a key or an account that cannot pay for them", () => {
  const me = (accountId: string) => ({ accountId, publicKey: keys.get(accountId)!.getPublicKey().toString() });

  it('FunctionCall key without the method: MethodNameMismatch', async () => {
    const { data, e } = await rejected('methods.localnet', 'nodomain.localnet', 'submit_participant_info');
    expect(data).toEqual({ InvalidAccessKeyError: { MethodNameMismatch: { method_name: 'submit_participant_info' } } });
    expect(e).toBeInstanceOf(AccessKeyMethodNameMismatchActionError);
    expect((e as Error).message).toBe('Access key does not allow method submit_participant_info');
    expect(describeInvalidTx(e, me('methods.localnet'))).toBe(
      'InvalidAccessKeyError(MethodNameMismatch { method_name: "submit_participant_info" })',
    );
    // a method the key lists goes through (the contract then judges it)
    const ok = await nodeCall('methods.localnet', 'nodomain.localnet', 'vote_pk');
    const out = await provider.sendTransactionUntil(ok.signedTransaction, 'EXECUTED_OPTIMISTIC');
    expect(JSON.stringify(out.status)).toContain('Smart contract panicked');
  });

  it('FunctionCall key for another receiver: ReceiverMismatch', async () => {
    const { data, e } = await rejected('receiver.localnet', 'nodomain.localnet', 'submit_participant_info');
    expect(data).toEqual({
      InvalidAccessKeyError: { ReceiverMismatch: { tx_receiver: 'nodomain.localnet', ak_receiver: 'other.localnet' } },
    });
    expect(e).toBeInstanceOf(AccessKeyReceiverMismatchActionError);
    expect((e as Error).message).toBe(
      'Access key receiver other.localnet does not match transaction receiver nodomain.localnet',
    );
    expect(describeInvalidTx(e, me('receiver.localnet'))).toBe(
      'InvalidAccessKeyError(ReceiverMismatch { tx_receiver: nodomain.localnet, ak_receiver: other.localnet })',
    );
  });

  it('FunctionCall key whose allowance is below the cost of a call: NotEnoughAllowance', async () => {
    const { data, e, pk } = await rejected('allowance.localnet', 'nodomain.localnet', 'submit_participant_info');
    const allowance = (NODE_CALL_COST / 3n).toString();
    expect(data).toEqual({
      InvalidAccessKeyError: {
        NotEnoughAllowance: {
          account_id: 'allowance.localnet',
          public_key: pk,
          allowance,
          cost: NODE_CALL_COST.toString(),
        },
      },
    });
    expect(e).toBeInstanceOf(AccessKeyNotEnoughAllowanceActionError);
    expect((e as Error).message).toBe(
      `Not enough allowance for access key ${pk} on account allowance.localnet ` +
        `(allowance: ${allowance}, cost: ${NODE_CALL_COST})`,
    );
    expect(describeInvalidTx(e, me('allowance.localnet'))).toBe(
      `InvalidAccessKeyError(NotEnoughAllowance { account_id: allowance.localnet, public_key: ${pk}, ` +
        `allowance: ${allowance}, cost: ${NODE_CALL_COST} })`,
    );
  });

  it('an account whose balance cannot pay the gas: NotEnoughBalance', async () => {
    const { data, e } = await rejected('broke.localnet', 'nodomain.localnet', 'submit_participant_info');
    const balance = (NEAR / 100n).toString();
    expect(data).toEqual({
      NotEnoughBalance: { signer_id: 'broke.localnet', balance, cost: NODE_CALL_COST.toString() },
    });
    expect(e).toBeInstanceOf(NotEnoughBalanceError);
    expect((e as Error).message).toBe(
      `Not enough balance for broke.localnet (balance: ${balance}, cost: ${NODE_CALL_COST})`,
    );
    expect(describeInvalidTx(e, me('broke.localnet'))).toBe(
      `NotEnoughBalance { signer_id: broke.localnet, balance: ${balance}, cost: ${NODE_CALL_COST} }`,
    );
    const acc = await provider.viewAccount({ accountId: 'broke.localnet' });
    expect(acc.amount).toBe(NEAR / 100n);
  });
});
