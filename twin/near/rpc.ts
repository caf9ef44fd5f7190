/**
 * nearcore-compatible JSON-RPC over HTTP for the twin's chain: the methods near-api-js and the MPC
 * node use, with nearcore's success and error shapes (structured errors, the HTTP-200 compat
 * `result.error` form, HTTP status codes of nearcore ≥ 2.4).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { base64Decode, baseDecode, baseEncode, PublicKey } from 'near-api-js';
import { createHash } from 'node:crypto';
import { GAS_PRICE, InvalidTx, TX_GAS_BURNT, TxDecodeError, type Block, type Chain, type TxRecord } from './chain.ts';

export interface NearRpcFaults {
  /** Added to every request before it is handled. */
  latencyMs: number;
  /** The next N calls answer HTTP 500 INTERNAL_ERROR. */
  failNext5xx: number;
  /** The next N send_tx/broadcast_tx_commit calls answer TIMEOUT_ERROR (HTTP 408) without applying. */
  timeoutNext: number;
  /** The next N requests get no answer at all (an overloaded node or a dropped route): the client must give up by itself. */
  hangNext?: number;
}

export interface NearRpcStats {
  /** JSON-RPC method -> calls */
  calls: Record<string, number>;
  /** query request_type -> calls */
  byRequestType: Record<string, number>;
  /** error cause name (UNKNOWN_ACCOUNT, INVALID_TRANSACTION, TIMEOUT_ERROR, …) -> replies */
  errors: Record<string, number>;
  /** HTTP status -> replies */
  http: Record<string, number>;
}

export interface NearRpcServer {
  url: string;
  port: number;
  faults: NearRpcFaults;
  stats(): NearRpcStats;
  stop(): Promise<void>;
}

export interface NearRpcOptions {
  chain: Chain;
  /** 0 (default) = any free port. */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** How long tx/send_tx wait for the requested status before TIMEOUT_ERROR (nearcore: 10 s). */
  txPollingTimeoutMs?: number;
}

class RpcFailure extends Error {
  readonly status: number;
  readonly error: Record<string, unknown>;
  constructor(status: number, error: Record<string, unknown>) {
    super(String(error.name));
    this.status = status;
    this.error = error;
  }
}

const handlerError = (cause: string, info: unknown, data: unknown, status = 200) =>
  new RpcFailure(status, {
    name: 'HANDLER_ERROR',
    cause: info === undefined ? { name: cause } : { name: cause, info },
    code: -32000,
    message: 'Server error',
    ...(data === undefined ? {} : { data }),
  });

const parseError = (message: string) =>
  new RpcFailure(400, {
    name: 'REQUEST_VALIDATION_ERROR',
    cause: { name: 'PARSE_ERROR', info: { error_message: message } },
    code: -32700,
    message: 'Parse error',
    data: message,
  });

const internalError = (message: string) =>
  new RpcFailure(500, {
    name: 'INTERNAL_ERROR',
    cause: { name: 'INTERNAL_ERROR', info: { error_message: message } },
    code: -32000,
    message: 'Server error',
    data: message,
  });

const timeoutError = () => handlerError('TIMEOUT_ERROR', undefined, 'Timeout', 408);

const blockRef = (b: Block) => ({ block_height: b.height, block_hash: b.hash });

const STATUS_ORDER = ['NONE', 'INCLUDED', 'EXECUTED_OPTIMISTIC', 'INCLUDED_FINAL', 'EXECUTED', 'FINAL'] as const;
type WaitUntil = (typeof STATUS_ORDER)[number];
const MAX_BODY = 10 * 1024 * 1024;

/** nearcore's `tx_execution_status_meets_expectations`. */
function meets(actual: WaitUntil, wanted: WaitUntil): boolean {
  switch (wanted) {
    case 'NONE':
      return true;
    case 'INCLUDED':
      return actual !== 'NONE';
    case 'EXECUTED_OPTIMISTIC':
      return actual === 'EXECUTED_OPTIMISTIC' || actual === 'EXECUTED' || actual === 'FINAL';
    case 'INCLUDED_FINAL':
      return actual === 'INCLUDED_FINAL' || actual === 'EXECUTED' || actual === 'FINAL';
    case 'EXECUTED':
      return actual === 'EXECUTED' || actual === 'FINAL';
    case 'FINAL':
      return actual === 'FINAL';
  }
}

export async function startNearRpc(opts: NearRpcOptions): Promise<NearRpcServer> {
  const { chain } = opts;
  const host = opts.host ?? '127.0.0.1';
  const faults: NearRpcFaults = { latencyMs: 0, failNext5xx: 0, timeoutNext: 0 };
  const calls: Record<string, number> = {};
  const byRequestType: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const http: Record<string, number> = {};
  const pollingTimeout = opts.txPollingTimeoutMs ?? 10_000;
  const startedAt = Date.now();
  const nodePublicKey = `ed25519:${baseEncode(createHash('sha256').update(`node|${chain.genesisHash}`).digest())}`;
  let stopped = false;
  /** Pending waits, woken on each block and failed on stop. */
  const waiters = new Set<{ check(): void; abort(): void }>();
  const unsubscribe = chain.onBlock(() => {
    for (const w of [...waiters]) w.check();
  });
  let port = 0;

  // --- blocks -----------------------------------------------------------------------------------

  /** A block reference (finality | block_id | sync_checkpoint); `forBlockMethod` selects the block method's UNKNOWN_BLOCK info. */
  function resolveBlock(params: Record<string, unknown>, forBlockMethod: boolean): Block {
    if (params.block_id !== undefined && params.block_id !== null) {
      const id = params.block_id;
      let b: Block | undefined;
      if (typeof id === 'number') {
        if (!Number.isSafeInteger(id) || id < 0) throw parseError(`invalid value: integer \`${id}\`, expected u64`);
        b = chain.blockByHeight(id);
      } else if (typeof id === 'string') {
        let bytes: Uint8Array;
        try {
          bytes = baseDecode(id);
        } catch {
          bytes = new Uint8Array();
        }
        if (bytes.length !== 32)
          throw parseError(
            `Failed parsing args: invalid value: string ${JSON.stringify(id)}, expected a block height or a 32-byte base58 hash`,
          );
        b = chain.blockByHash(id);
      } else {
        throw parseError('Failed parsing args: block_id must be a block height or hash');
      }
      if (!b) {
        const below = typeof id === 'number' && id < chain.head.height;
        const data =
          typeof id === 'number'
            ? `DB Not Found Error: BLOCK HEIGHT: ${id} \n Cause: Unknown`
            : `DB Not Found Error: BLOCK HEADER: ${id}`;
        throw handlerError(
          'UNKNOWN_BLOCK',
          forBlockMethod ? {} : { block_reference: { block_id: id } },
          data,
          below ? 422 : 200,
        );
      }
      return b;
    }
    if (params.sync_checkpoint !== undefined) {
      if (params.sync_checkpoint === 'genesis') return chain.blockByHeight(1) ?? chain.earliestBlock();
      if (params.sync_checkpoint === 'earliest_available') return chain.earliestBlock();
      throw parseError(
        `Failed parsing args: unknown variant \`${String(params.sync_checkpoint)}\`, expected \`genesis\` or \`earliest_available\``,
      );
    }
    switch (params.finality) {
      case 'final':
        return chain.finalBlock;
      case 'near-final':
        return chain.nearFinalBlock;
      case 'optimistic':
        return chain.head;
      case undefined:
        throw parseError('Failed parsing args: missing field `finality`');
      default:
        throw parseError(
          `Failed parsing args: unknown variant \`${String(params.finality)}\`, expected one of \`optimistic\`, \`near-final\`, \`final\``,
        );
    }
  }

  function blockView(b: Block) {
    const prev = chain.blockByHeight(b.height - 1);
    const zero = '11111111111111111111111111111111';
    return {
      author: 'node0',
      header: {
        height: b.height,
        prev_height: prev?.height ?? null,
        epoch_id: zero,
        next_epoch_id: chain.genesisHash,
        hash: b.hash,
        prev_hash: b.prevHash,
        prev_state_root: b.hash,
        block_body_hash: b.hash,
        chunk_receipts_root: b.hash,
        chunk_headers_root: b.hash,
        chunk_tx_root: b.hash,
        outcome_root: b.hash,
        chunks_included: 1,
        challenges_root: zero,
        timestamp: Number(b.timestampNs),
        timestamp_nanosec: b.timestampNs.toString(),
        random_value: b.hash,
        validator_proposals: [],
        chunk_mask: [true],
        gas_price: GAS_PRICE.toString(),
        block_ordinal: b.height,
        rent_paid: '0',
        validator_reward: '0',
        total_supply: '2000000000000000000000000000000000',
        challenges_result: [],
        last_final_block: chain.blockByHeight(Math.max(1, b.height - 2))?.hash ?? zero,
        last_ds_final_block: chain.blockByHeight(Math.max(1, b.height - 1))?.hash ?? zero,
        next_bp_hash: chain.genesisHash,
        block_merkle_root: b.hash,
        epoch_sync_data_hash: null,
        approvals: [],
        signature: `ed25519:${baseEncode(new Uint8Array(createHash('sha512').update(b.hash).digest()))}`,
        latest_protocol_version: 73,
      },
      chunks: [],
    };
  }

  function status() {
    const h = chain.head;
    const e = chain.earliestBlock();
    return {
      chain_id: chain.chainId,
      genesis_hash: chain.genesisHash,
      latest_protocol_version: 73,
      protocol_version: 73,
      node_key: null,
      node_public_key: nodePublicKey,
      rpc_addr: `${host}:${port}`,
      sync_info: {
        earliest_block_hash: e.hash,
        earliest_block_height: e.height,
        earliest_block_time: nsToIso(e.timestampNs),
        epoch_id: '11111111111111111111111111111111',
        epoch_start_height: 1,
        latest_block_hash: h.hash,
        latest_block_height: h.height,
        latest_block_time: nsToIso(h.timestampNs),
        latest_state_root: h.hash,
        syncing: false,
      },
      uptime_sec: Math.floor((Date.now() - startedAt) / 1000),
      validator_account_id: null,
      validator_public_key: null,
      validators: [{ account_id: 'node0', is_slashed: false }],
      version: { build: 'twin', commit: 'twin', rustc_version: '1.82.0', version: '2.4.0' },
    };
  }

  // --- query --------------------------------------------------------------------------------------

  function legacyQuery(params: unknown[]): Record<string, unknown> {
    const [path, data] = params as [unknown, unknown];
    if (typeof path !== 'string') throw parseError('Failed parsing args: expected a path string');
    const [kind, account, ...rest] = path.split('/');
    const base = { account_id: account, finality: 'optimistic' };
    switch (kind) {
      case 'account':
        return { request_type: 'view_account', ...base };
      case 'access_key':
        return rest.length
          ? { request_type: 'view_access_key', ...base, public_key: rest.join('/') }
          : { request_type: 'view_access_key_list', ...base };
      case 'contract':
        return { request_type: 'view_state', ...base, prefix_base64: '' };
      case 'code':
        return { request_type: 'view_code', ...base };
      case 'call': {
        let args = '';
        try {
          args = typeof data === 'string' ? Buffer.from(baseDecode(data)).toString('base64') : '';
        } catch {
          throw parseError('Failed parsing args: data must be base58');
        }
        return { request_type: 'call_function', ...base, method_name: rest[0], args_base64: args };
      }
      default:
        throw parseError(`Failed parsing args: Illegal path: ${kind}`);
    }
  }

  function query(raw: unknown): unknown {
    if (raw === null || typeof raw !== 'object') throw parseError('Require at least one parameter');
    const p = Array.isArray(raw) ? legacyQuery(raw) : (raw as Record<string, unknown>);
    const type = p.request_type;
    if (typeof type !== 'string') throw parseError('Failed parsing args: missing field `request_type`');
    byRequestType[type] = (byRequestType[type] ?? 0) + 1;
    const known = [
      'view_account',
      'view_access_key',
      'view_access_key_list',
      'call_function',
      'view_code',
      'view_state',
    ];
    if (!known.includes(type)) throw parseError(`Failed parsing args: unknown variant \`${type}\``);
    const accountId = p.account_id;
    if (typeof accountId !== 'string') throw parseError('Failed parsing args: missing field `account_id`');
    const block = resolveBlock(p, false);
    const unknownAccount = () =>
      handlerError(
        'UNKNOWN_ACCOUNT',
        { requested_account_id: accountId, ...blockRef(block) },
        `account ${accountId} does not exist while viewing`,
      );
    switch (type) {
      case 'view_account': {
        const v = chain.viewAccount(accountId);
        if (!v) throw unknownAccount();
        return { ...v, ...blockRef(block) };
      }
      case 'view_access_key': {
        if (typeof p.public_key !== 'string') throw parseError('Failed parsing args: missing field `public_key`');
        try {
          PublicKey.fromString(p.public_key);
        } catch (e) {
          throw parseError(`Failed parsing args: ${(e as Error).message}`);
        }
        const key = chain.viewAccessKey(accountId, p.public_key);
        if (!key)
          return { error: `access key ${p.public_key} does not exist while viewing`, logs: [], ...blockRef(block) };
        return { ...key, ...blockRef(block) };
      }
      case 'view_access_key_list':
        return { ...chain.viewAccessKeyList(accountId), ...blockRef(block) };
      case 'view_code': {
        const v = chain.viewCode(accountId);
        if (v === 'UnknownAccount') throw unknownAccount();
        if (v === 'NoContractCode') {
          throw handlerError(
            'NO_CONTRACT_CODE',
            { contract_account_id: accountId, ...blockRef(block) },
            `Contract code for contract ID #${accountId} has never been observed on the node`,
          );
        }
        return { ...v, ...blockRef(block) };
      }
      case 'view_state': {
        // the twin's contracts are models without a raw key/value trie
        if (!chain.getAccount(accountId)) throw unknownAccount();
        return { values: [], ...blockRef(block) };
      }
      case 'call_function': {
        if (typeof p.method_name !== 'string') throw parseError('Failed parsing args: missing field `method_name`');
        const b64 = p.args_base64 ?? '';
        if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64))
          throw parseError('Failed parsing args: invalid base64 in `args_base64`');
        const out = chain.callView(accountId, p.method_name, new Uint8Array(Buffer.from(b64, 'base64')), block.height);
        if (out.ok) return { result: [...out.result], logs: out.logs, ...blockRef(block) };
        if (out.error === 'AccountDoesNotExist') throw unknownAccount();
        return { error: out.message, logs: [], ...blockRef(block) };
      }
    }
    throw parseError(`Failed parsing args: unknown variant \`${type}\``);
  }

  // --- transactions ---------------------------------------------------------------------------------

  function reached(rec: TxRecord): WaitUntil {
    if (!rec.includedIn) return 'NONE';
    // every receipt of a twin tx executes in the including block
    return chain.finalBlock.height >= rec.includedIn.height ? 'FINAL' : 'EXECUTED_OPTIMISTIC';
  }

  function outcomeView(rec: TxRecord, experimental: boolean): Record<string, unknown> {
    const b = rec.includedIn!;
    const status = rec.status!;
    const receiptGas = rec.receiptGasBurnt;
    const out: Record<string, unknown> = {
      final_execution_status: reached(rec),
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
  function waitFor(get: () => TxRecord | undefined, wanted: WaitUntil): Promise<TxRecord> {
    return new Promise((resolve, reject) => {
      const w = {
        check() {
          const rec = get();
          if (rec && meets(reached(rec), wanted)) done(() => resolve(rec));
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

  function signedTxBytes(b64: unknown): Uint8Array {
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

  function submit(bytes: Uint8Array): TxRecord {
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

  function waitUntilParam(v: unknown): WaitUntil {
    if (v === undefined || v === null) return 'EXECUTED_OPTIMISTIC';
    if (typeof v === 'string' && (STATUS_ORDER as readonly string[]).includes(v)) return v as WaitUntil;
    throw parseError(
      `Failed parsing args: unknown variant \`${String(v)}\`, expected one of ${STATUS_ORDER.map((s) => `\`${s}\``).join(', ')}`,
    );
  }

  async function sendTx(bytes: Uint8Array, wanted: WaitUntil): Promise<unknown> {
    const rec = submit(bytes);
    if (wanted === 'NONE') return { final_execution_status: 'NONE' };
    const hash = rec.hash;
    const done = await waitFor(() => chain.tx(hash), wanted);
    return outcomeView(done, false);
  }

  async function txStatus(params: unknown, experimental: boolean): Promise<unknown> {
    let hash: string;
    let wanted: WaitUntil = 'EXECUTED_OPTIMISTIC';
    if (Array.isArray(params)) {
      if (typeof params[0] !== 'string') throw parseError('Failed parsing args: expected [tx_hash, sender_account_id]');
      hash = params[0];
    } else if (params && typeof params === 'object') {
      const o = params as Record<string, unknown>;
      wanted = waitUntilParam(o.wait_until);
      if (o.signed_tx_base64 !== undefined) {
        hash = submit(signedTxBytes(o.signed_tx_base64)).hash;
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
      return { final_execution_status: reached(rec), ...(rec.includedIn ? outcomeView(rec, experimental) : {}) };
    }
    const done = await waitFor(() => chain.tx(hash), wanted);
    return outcomeView(done, experimental);
  }

  // --- dispatch -------------------------------------------------------------------------------------

  async function dispatch(method: string, params: unknown): Promise<unknown> {
    const obj = (params && typeof params === 'object' && !Array.isArray(params) ? params : {}) as Record<
      string,
      unknown
    >;
    const arr = Array.isArray(params) ? (params as unknown[]) : undefined;
    switch (method) {
      case 'status':
        return status();
      case 'health':
        return null;
      case 'block': {
        if (arr) {
          if (arr.length === 0) throw parseError('Require at least one parameter');
          return blockView(resolveBlock({ block_id: arr[0] }, true));
        }
        return blockView(resolveBlock(obj, true));
      }
      case 'query':
        return query(params);
      case 'send_tx':
      case 'broadcast_tx_commit': {
        const bytes = signedTxBytes(arr ? arr[0] : obj.signed_tx_base64);
        const wanted = method === 'send_tx' ? waitUntilParam(obj.wait_until) : 'EXECUTED_OPTIMISTIC';
        if (faults.timeoutNext > 0) {
          faults.timeoutNext--;
          throw timeoutError();
        }
        return sendTx(bytes, wanted);
      }
      case 'broadcast_tx_async': {
        const bytes = signedTxBytes(arr ? arr[0] : obj.signed_tx_base64);
        const hash = chain.txHashOf(bytes);
        if (!hash) throw parseError('Failed to decode transaction');
        try {
          chain.submit(bytes);
        } catch {
          // nearcore validates asynchronously: the caller only learns the hash
        }
        return hash;
      }
      case 'EXPERIMENTAL_protocol_config': {
        const b = resolveBlock(
          obj.block_id === undefined && obj.finality === undefined && obj.sync_checkpoint === undefined
            ? { finality: 'final' }
            : obj,
          true,
        );
        return {
          chain_id: chain.chainId,
          genesis_height: 1,
          genesis_time: nsToIso(chain.blockByHeight(1)?.timestampNs ?? chain.earliestBlock().timestampNs),
          protocol_version: 73,
          epoch_length: 500,
          num_block_producer_seats: 1,
          transaction_validity_period: chain.transactionValidityPeriod,
          min_gas_price: GAS_PRICE.toString(),
          max_gas_price: (GAS_PRICE * 100n).toString(),
          gas_limit: 1_000_000_000_000_000,
          block_producer_kickout_threshold: 90,
          chunk_producer_kickout_threshold: 90,
          online_min_threshold: [90, 100],
          online_max_threshold: [99, 100],
          protocol_treasury_account: 'near',
          max_inflation_rate: [1, 40],
          protocol_reward_rate: [1, 10],
          total_supply: '2000000000000000000000000000000000',
          runtime_config: {
            storage_amount_per_byte: '10000000000000000000',
            account_creation_config: { min_allowed_top_level_account_length: 32, registrar_account_id: 'registrar' },
          },
          ...blockRef(b),
        };
      }
      case 'gas_price': {
        if (arr && arr[0] !== null && arr[0] !== undefined) resolveBlock({ block_id: arr[0] }, true);
        else if (obj.block_id !== undefined && obj.block_id !== null) resolveBlock(obj, true);
        return { gas_price: GAS_PRICE.toString() };
      }
      case 'tx':
        return txStatus(params, false);
      case 'EXPERIMENTAL_tx_status':
        return txStatus(params, true);
      default:
        throw new RpcFailure(400, {
          name: 'REQUEST_VALIDATION_ERROR',
          cause: { name: 'METHOD_NOT_FOUND', info: { method_name: method } },
          code: -32601,
          message: 'Method not found',
          data: method,
        });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const send = (code: number, body: unknown) => {
      http[code] = (http[code] ?? 0) + 1;
      const err = (body as { error?: { cause?: { name?: string }; name?: string } } | null)?.error;
      if (err) {
        const name = err.cause?.name ?? err.name ?? 'UNKNOWN';
        errors[name] = (errors[name] ?? 0) + 1;
      }
      const text = JSON.stringify(body);
      res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (faults.latencyMs > 0) await new Promise((r) => setTimeout(r, faults.latencyMs));
    if ((faults.hangNext ?? 0) > 0) {
      faults.hangNext!--;
      return; // never answered; closed when the client gives up or the server stops
    }
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/status') return send(200, status());
    if (req.method === 'GET' && path === '/health') return send(200, null);
    if (path !== '/') return send(404, null);
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' });
      return void res.end();
    }
    let body = '';
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY) {
        res.writeHead(413);
        return void res.end();
      }
      body += chunk;
    }
    let msg: { id?: unknown; method?: unknown; params?: unknown };
    try {
      msg = JSON.parse(body);
      if (msg === null || typeof msg !== 'object' || Array.isArray(msg))
        throw new Error('expected a JSON-RPC request object');
    } catch (e) {
      const f = parseError((e as Error).message);
      return send(f.status, { jsonrpc: '2.0', error: f.error, id: null });
    }
    const id = msg.id ?? null;
    if (typeof msg.method !== 'string') {
      const f = parseError('missing field `method`');
      return send(f.status, { jsonrpc: '2.0', error: f.error, id });
    }
    const method = msg.method;
    calls[method] = (calls[method] ?? 0) + 1;
    if (faults.failNext5xx > 0) {
      faults.failNext5xx--;
      const f = internalError('twin: injected internal error');
      return send(f.status, { jsonrpc: '2.0', error: f.error, id });
    }
    try {
      const result = await dispatch(method, msg.params);
      send(200, { jsonrpc: '2.0', result, id });
    } catch (e) {
      const f = e instanceof RpcFailure ? e : internalError((e as Error).message);
      send(f.status, { jsonrpc: '2.0', error: f.error, id });
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', fail);
      ok();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    faults,
    stats: () => ({
      calls: { ...calls },
      byRequestType: { ...byRequestType },
      errors: { ...errors },
      http: { ...http },
    }),
    stop: () =>
      new Promise<void>((ok) => {
        if (stopped) return ok();
        stopped = true;
        unsubscribe();
        for (const w of [...waiters]) w.abort();
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** RFC 3339 UTC with a nanosecond fraction, as nearcore prints block times. */
function nsToIso(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // …sssZ
  return iso.replace('Z', `${(ns % 1_000_000n).toString().padStart(6, '0')}Z`);
}
