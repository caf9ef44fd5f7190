/**
 * Transactions over the twin's JSON-RPC: send_tx / broadcast_tx_* / tx / EXPERIMENTAL_tx_status with
 * nearcore's waiting rule per `wait_until`, INVALID_TRANSACTION errors carrying the chain's
 * InvalidTxError, and the FinalExecutionOutcome views.
 */
import { base64Decode, baseDecode } from 'near-api-js';
import { GAS_PRICE, InvalidTx, TX_GAS_BURNT, TxDecodeError, type Chain, type TxRecord } from './chain.ts';
import {
  STATUS_ORDER,
  handlerError,
  internalError,
  meets,
  parseError,
  timeoutError,
  type RpcContext,
  type WaitUntil,
} from './rpc-protocol.ts';

function reached(chain: Chain, rec: TxRecord): WaitUntil {
  if (!rec.includedIn) return 'NONE';
  // every receipt of a twin tx executes in the including block
  return chain.finalBlock.height >= rec.includedIn.height ? 'FINAL' : 'EXECUTED_OPTIMISTIC';
}

function outcomeView(chain: Chain, rec: TxRecord, experimental: boolean): Record<string, unknown> {
  const b = rec.includedIn!;
  const status = rec.status!;
  const receiptGas = rec.receiptGasBurnt;
  const out: Record<string, unknown> = {
    final_execution_status: reached(chain, rec),
    status,
    transaction: {
      signer_id: rec.signerId,
      public_key: rec.publicKey,
      nonce: Number(rec.nonce),
      receiver_id: rec.receiverId,
      priority_fee: 0,
      actions: rec.actionsView,
      signature: rec.signature,
      hash: rec.hash,
    },
    transaction_outcome: {
      id: rec.hash,
      block_hash: b.hash,
      proof: [],
      outcome: {
        executor_id: rec.signerId,
        gas_burnt: Number(TX_GAS_BURNT),
        tokens_burnt: (TX_GAS_BURNT * GAS_PRICE).toString(),
        logs: [],
        receipt_ids: [rec.receiptId],
        status: { SuccessReceiptId: rec.receiptId },
        metadata: { version: 1, gas_profile: null },
      },
    },
    receipts_outcome: [
      {
        id: rec.receiptId,
        block_hash: b.hash,
        proof: [],
        outcome: {
          executor_id: rec.receiverId,
          gas_burnt: Number(receiptGas),
          tokens_burnt: (receiptGas * GAS_PRICE).toString(),
          logs: [...rec.logs],
          receipt_ids: [],
          status,
          metadata: { version: 3, gas_profile: [] },
        },
      },
    ],
  };
  if (experimental) {
    out.receipts = [
      {
        predecessor_id: rec.signerId,
        receiver_id: rec.receiverId,
        receipt_id: rec.receiptId,
        priority: 0,
        receipt: {
          Action: {
            signer_id: rec.signerId,
            signer_public_key: rec.publicKey,
            gas_price: GAS_PRICE.toString(),
            output_data_receivers: [],
            input_data_ids: [],
            actions: rec.actionsView,
            is_promise_yield: false,
          },
        },
      },
    ];
  }
  return out;
}

/** Resolve once `get()` yields a record meeting `wanted`; TIMEOUT_ERROR after the polling timeout. */
function waitFor(
  { chain, waiters, pollingTimeout }: RpcContext,
  get: () => TxRecord | undefined,
  wanted: WaitUntil,
): Promise<TxRecord> {
  return new Promise((resolve, reject) => {
    const w = {
      check() {
        const rec = get();
        if (rec && meets(reached(chain, rec), wanted)) done(() => resolve(rec));
      },
      abort() {
        done(() => reject(internalError('the RPC server is shutting down')));
      },
    };
    const timer = setTimeout(() => done(() => reject(timeoutError())), pollingTimeout);
    const done = (f: () => void) => {
      clearTimeout(timer);
      waiters.delete(w);
      f();
    };
    waiters.add(w);
    w.check();
  });
}

export function signedTxBytes(b64: unknown): Uint8Array {
  if (typeof b64 !== 'string') throw parseError('Failed parsing args: missing field `signed_tx_base64`');
  let bytes: Uint8Array;
  try {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new Error('invalid base64');
    bytes = base64Decode(b64);
  } catch (e) {
    throw parseError(`Failed to decode transaction: ${(e as Error).message}`);
  }
  return bytes;
}

function submit(chain: Chain, bytes: Uint8Array): TxRecord {
  try {
    return chain.submit(bytes);
  } catch (e) {
    if (e instanceof InvalidTx) {
      throw handlerError('INVALID_TRANSACTION', {}, { TxExecutionError: { InvalidTxError: e.data } });
    }
    if (e instanceof TxDecodeError) throw parseError(`Failed to decode transaction: ${e.message}`);
    throw e;
  }
}

export function waitUntilParam(v: unknown): WaitUntil {
  if (v === undefined || v === null) return 'EXECUTED_OPTIMISTIC';
  if (typeof v === 'string' && (STATUS_ORDER as readonly string[]).includes(v)) return v as WaitUntil;
  throw parseError(
    `Failed parsing args: unknown variant \`${String(v)}\`, ` +
      `expected one of ${STATUS_ORDER.map((s) => `\`${s}\``).join(', ')}`,
  );
}

export async function sendTx(ctx: RpcContext, bytes: Uint8Array, wanted: WaitUntil): Promise<unknown> {
  const rec = submit(ctx.chain, bytes);
  if (wanted === 'NONE') return { final_execution_status: 'NONE' };
  const hash = rec.hash;
  const done = await waitFor(ctx, () => ctx.chain.tx(hash), wanted);
  return outcomeView(ctx.chain, done, false);
}

export async function txStatus(ctx: RpcContext, params: unknown, experimental: boolean): Promise<unknown> {
  const { chain } = ctx;
  let hash: string;
  let wanted: WaitUntil = 'EXECUTED_OPTIMISTIC';
  if (Array.isArray(params)) {
    if (typeof params[0] !== 'string') throw parseError('Failed parsing args: expected [tx_hash, sender_account_id]');
    hash = params[0];
  } else if (params && typeof params === 'object') {
    const o = params as Record<string, unknown>;
    wanted = waitUntilParam(o.wait_until);
    if (o.signed_tx_base64 !== undefined) {
      hash = submit(chain, signedTxBytes(o.signed_tx_base64)).hash;
    } else {
      if (typeof o.tx_hash !== 'string') throw parseError('Failed parsing args: missing field `tx_hash`');
      if (typeof o.sender_account_id !== 'string')
        throw parseError('Failed parsing args: missing field `sender_account_id`');
      hash = o.tx_hash;
    }
  } else {
    throw parseError('Require at least one parameter');
  }
  let bytes: Uint8Array;
  try {
    bytes = baseDecode(hash);
  } catch {
    bytes = new Uint8Array();
  }
  if (bytes.length !== 32) throw parseError(`Failed parsing args: invalid tx hash ${JSON.stringify(hash)}`);
  const rec = chain.tx(hash);
  if (wanted === 'NONE') {
    if (!rec)
      throw handlerError(
        'UNKNOWN_TRANSACTION',
        { requested_transaction_hash: hash },
        `Transaction ${hash} doesn't exist`,
      );
    return {
      final_execution_status: reached(chain, rec),
      ...(rec.includedIn ? outcomeView(chain, rec, experimental) : {}),
    };
  }
  const done = await waitFor(ctx, () => ctx.chain.tx(hash), wanted);
  return outcomeView(chain, done, experimental);
}

/** broadcast_tx_async: the hash at once; nearcore validates asynchronously, so the caller learns nothing else. */
export function broadcastAsync(chain: Chain, bytes: Uint8Array): string {
  const hash = chain.txHashOf(bytes);
  if (!hash) throw parseError('Failed to decode transaction');
  try {
    chain.submit(bytes);
  } catch {
    // nearcore validates asynchronously: the caller only learns the hash
  }
  return hash;
}
