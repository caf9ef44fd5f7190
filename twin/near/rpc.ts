/**
 * nearcore-compatible JSON-RPC over HTTP for the twin's chain: the methods near-api-js and the MPC
 * node use, with nearcore's success and error shapes (structured errors, the HTTP-200 compat
 * `result.error` form, HTTP status codes of nearcore ≥ 2.4).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { base64Decode } from 'near-api-js';
import { InvalidTx, type Block, type Chain, type TxRecord } from './chain.ts';

export interface NearRpcFaults {
  latencyMs: number;
  /** The next N calls answer HTTP 500 INTERNAL_ERROR. */
  failNext5xx: number;
  /** The next N send_tx/broadcast_tx_commit calls answer TIMEOUT_ERROR (HTTP 408) without applying. */
  timeoutNext: number;
}

export interface NearRpcServer {
  url: string;
  port: number;
  faults: NearRpcFaults;
  stats(): { calls: Record<string, number>; byRequestType: Record<string, number> };
  stop(): Promise<void>;
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
  new RpcFailure(status, { name: 'HANDLER_ERROR', cause: info === undefined ? { name: cause } : { name: cause, info }, code: -32000, message: 'Server error', data });

const blockRef = (b: Block) => ({ block_height: b.height, block_hash: b.hash });

const STATUS_ORDER = ['NONE', 'INCLUDED', 'EXECUTED_OPTIMISTIC', 'INCLUDED_FINAL', 'EXECUTED', 'FINAL'] as const;
type WaitUntil = (typeof STATUS_ORDER)[number];

export async function startNearRpc(opts: { chain: Chain; port?: number; host?: string; txPollingTimeoutMs?: number }): Promise<NearRpcServer> {
  const { chain } = opts;
  const faults: NearRpcFaults = { latencyMs: 0, failNext5xx: 0, timeoutNext: 0 };
  const calls: Record<string, number> = {};
  const byRequestType: Record<string, number> = {};
  const pollingTimeout = opts.txPollingTimeoutMs ?? 10_000;
  const startedAt = Date.now();

  function resolveBlock(params: Record<string, unknown>): Block {
    if (params.block_id !== undefined) {
      const id = params.block_id;
      const b = typeof id === 'number' ? chain.blockByHeight(id) : chain.blockByHash(String(id));
      if (!b) {
        const below = typeof id === 'number' && id < chain.head.height;
        throw handlerError('UNKNOWN_BLOCK', { block_reference: { block_id: id } },
          typeof id === 'number' ? `DB Not Found Error: BLOCK HEIGHT: ${id} \n Cause: Unknown` : `DB Not Found Error: BLOCK HEADER: ${id}`,
          below ? 422 : 200);
      }
      return b;
    }
    return params.finality === 'final' || params.finality === 'near-final' ? chain.finalBlock : chain.head;
  }

  function reached(rec: TxRecord): WaitUntil {
    if (!rec.includedIn) return 'NONE';
    return chain.head.height - rec.includedIn.height >= 2 ? 'FINAL' : 'EXECUTED_OPTIMISTIC';
  }

  function meets(actual: WaitUntil, wanted: WaitUntil): boolean {
    if (wanted === 'NONE') return true;
    if (actual === 'NONE') return false;
    if (wanted === 'INCLUDED' || wanted === 'EXECUTED_OPTIMISTIC') return true;
    return actual === 'FINAL';
  }

  function outcomeView(rec: TxRecord): Record<string, unknown> {
    const b = rec.includedIn!;
    const status = rec.status!;
    return {
      final_execution_status: reached(rec),
      status,
      transaction: {
        signer_id: rec.signerId, public_key: rec.publicKey, nonce: Number(rec.nonce), receiver_id: rec.receiverId,
        priority_fee: 0, actions: rec.actionsView, signature: rec.signature, hash: rec.hash,
      },
      transaction_outcome: {
        id: rec.hash, block_hash: b.hash, proof: [],
        outcome: {
          executor_id: rec.signerId, gas_burnt: 2_428_000_000_000, tokens_burnt: '242800000000000000000', logs: [],
          receipt_ids: [rec.receiptId], status: { SuccessReceiptId: rec.receiptId }, metadata: { version: 1, gas_profile: null },
        },
      },
      receipts_outcome: [
        {
          id: rec.receiptId, block_hash: b.hash, proof: [],
          outcome: {
            executor_id: rec.receiverId, gas_burnt: 2_428_000_000_000, tokens_burnt: '242800000000000000000', logs: rec.logs,
            receipt_ids: [], status, metadata: { version: 3, gas_profile: [] },
          },
        },
      ],
    };
  }

  async function waitFor(rec: TxRecord, wanted: WaitUntil): Promise<Record<string, unknown>> {
    if (wanted === 'NONE') return { final_execution_status: 'NONE' };
    const deadline = Date.now() + pollingTimeout;
    while (!meets(reached(rec), wanted)) {
      if (Date.now() > deadline) throw handlerError('TIMEOUT_ERROR', undefined, 'Timeout', 408);
      await new Promise((r) => setTimeout(r, Math.max(10, Math.min(50, chain.blockTimeMs / 4))));
    }
    return outcomeView(rec);
  }

  function submit(b64: unknown): TxRecord {
    if (typeof b64 !== 'string') {
      throw new RpcFailure(400, { name: 'REQUEST_VALIDATION_ERROR', cause: { name: 'PARSE_ERROR', info: { error_message: 'missing field `signed_tx_base64`' } }, code: -32700, message: 'Parse error', data: 'missing field `signed_tx_base64`' });
    }
    try {
      return chain.submit(base64Decode(b64));
    } catch (e) {
      if (e instanceof InvalidTx) {
        throw new RpcFailure(200, { name: 'HANDLER_ERROR', cause: { name: 'INVALID_TRANSACTION', info: {} }, code: -32000, message: 'Server error', data: { TxExecutionError: { InvalidTxError: e.data } } });
      }
      throw e;
    }
  }

  function query(params: Record<string, unknown>): unknown {
    let p = params;
    if (Array.isArray(params)) {
      const [path, data] = params as unknown as [string, string];
      const [kind, account, ...rest] = path.split('/');
      p = kind === 'account' ? { request_type: 'view_account', account_id: account, finality: 'optimistic' }
        : kind === 'access_key' && rest.length ? { request_type: 'view_access_key', account_id: account, public_key: rest[0], finality: 'optimistic' }
        : kind === 'access_key' ? { request_type: 'view_access_key_list', account_id: account, finality: 'optimistic' }
        : kind === 'call' ? { request_type: 'call_function', account_id: account, method_name: rest[0], args_base64: data, finality: 'optimistic' }
        : { request_type: kind };
    }
    const type = String(p.request_type);
    byRequestType[type] = (byRequestType[type] ?? 0) + 1;
    const block = resolveBlock(p);
    const accountId = String(p.account_id);
    const account = chain.getAccount(accountId);
    const unknownAccount = () => handlerError('UNKNOWN_ACCOUNT', { requested_account_id: accountId, ...blockRef(block) }, `account ${accountId} does not exist while viewing`);
    switch (type) {
      case 'view_account':
        if (!account) throw unknownAccount();
        return { amount: account.amount.toString(), locked: '0', code_hash: account.codeHash, storage_usage: 500 + account.keys.size * 100, storage_paid_at: 0, ...blockRef(block) };
      case 'view_access_key': {
        const key = account?.keys.get(String(p.public_key));
        if (!key) return { error: `access key ${String(p.public_key)} does not exist while viewing`, logs: [], ...blockRef(block) };
        return { nonce: Number(key.nonce), permission: key.permission, ...blockRef(block) };
      }
      case 'view_access_key_list':
        return { keys: [...(account?.keys ?? new Map()).entries()].map(([public_key, k]) => ({ public_key, access_key: { nonce: Number(k.nonce), permission: k.permission } })), ...blockRef(block) };
      case 'view_code':
        if (!account) throw unknownAccount();
        if (!account.contract) throw handlerError('NO_CONTRACT_CODE', { contract_account_id: accountId, ...blockRef(block) }, `Contract code for contract ID #${accountId} has never been observed on the node`);
        return { code_base64: '', hash: account.codeHash, ...blockRef(block) };
      case 'call_function': {
        if (!account) throw unknownAccount();
        if (!account.contract) return { error: `wasm execution failed with error: CompilationError(CodeDoesNotExist { account_id: "${accountId}" })`, logs: [], ...blockRef(block) };
        const raw = Buffer.from(String(p.args_base64 ?? ''), 'base64').toString('utf8');
        let args: unknown = {};
        if (raw.length) {
          try {
            args = JSON.parse(raw);
          } catch {
            return { error: 'wasm execution failed with error: HostError(GuestPanic { panic_msg: "Failed to deserialize input from JSON." })', logs: [], ...blockRef(block) };
          }
        }
        const out = account.contract.view(String(p.method_name), args, { contractId: accountId, blockHeight: block.height });
        if (!out.ok) {
          return {
            error: out.error.kind === 'MethodNotFound'
              ? 'wasm execution failed with error: MethodResolveError(MethodNotFound)'
              : `wasm execution failed with error: HostError(GuestPanic { panic_msg: ${JSON.stringify(out.error.message)} })`,
            logs: [], ...blockRef(block),
          };
        }
        const bytes = out.value === undefined ? [] : [...Buffer.from(JSON.stringify(out.value))];
        return { result: bytes, logs: out.logs, ...blockRef(block) };
      }
      default:
        throw new RpcFailure(400, { name: 'REQUEST_VALIDATION_ERROR', cause: { name: 'PARSE_ERROR', info: { error_message: `unknown variant \`${type}\`` } }, code: -32700, message: 'Parse error', data: `unknown variant \`${type}\`` });
    }
  }

  function blockView(b: Block) {
    const prev = chain.blockByHeight(b.height - 1);
    return {
      author: 'node0',
      header: {
        height: b.height, prev_height: prev?.height ?? null, epoch_id: chain.genesisHash, next_epoch_id: chain.genesisHash,
        hash: b.hash, prev_hash: b.prevHash, prev_state_root: b.hash, chunk_receipts_root: b.hash, chunk_headers_root: b.hash,
        chunk_tx_root: b.hash, outcome_root: b.hash, chunks_included: 1, challenges_root: b.hash,
        timestamp: Number(b.timestampNs), timestamp_nanosec: b.timestampNs.toString(), random_value: b.hash,
        validator_proposals: [], chunk_mask: [true], gas_price: '100000000', block_ordinal: b.height, total_supply: '1000000000000000000000000000000000',
        challenges_result: [], last_final_block: chain.blockByHeight(Math.max(1, b.height - 2))?.hash ?? b.hash,
        last_ds_final_block: chain.blockByHeight(Math.max(1, b.height - 1))?.hash ?? b.hash, next_bp_hash: b.hash,
        block_merkle_root: b.hash, approvals: [], signature: `ed25519:${'1'.repeat(64)}`, latest_protocol_version: 73,
      },
      chunks: [],
    };
  }

  function status() {
    const h = chain.head;
    const e = chain.earliestBlock();
    return {
      chain_id: chain.chainId, genesis_hash: chain.genesisHash, latest_protocol_version: 73, protocol_version: 73,
      node_key: null, node_public_key: 'ed25519:6DSjZ8mvsRZDvFqFxo8tCKePG96omXW7eVYVSySmDk8e', rpc_addr: '127.0.0.1:3030',
      sync_info: {
        earliest_block_hash: e.hash, earliest_block_height: e.height, earliest_block_time: nsToIso(e.timestampNs),
        epoch_id: chain.genesisHash, epoch_start_height: 1,
        latest_block_hash: h.hash, latest_block_height: h.height, latest_block_time: nsToIso(h.timestampNs),
        latest_state_root: h.hash, syncing: false,
      },
      uptime_sec: Math.floor((Date.now() - startedAt) / 1000), validator_account_id: null, validator_public_key: null,
      validators: [{ account_id: 'node0', is_slashed: false }],
      version: { build: 'twin', commit: 'twin', rustc_version: '1.82.0', version: '2.4.0' },
    };
  }

  async function dispatch(method: string, params: unknown): Promise<unknown> {
    const obj = (params ?? {}) as Record<string, unknown>;
    const arr = Array.isArray(params) ? (params as unknown[]) : undefined;
    switch (method) {
      case 'status':
        return status();
      case 'block': {
        const b = arr ? resolveBlock({ block_id: arr[0] }) : resolveBlock(obj);
        return blockView(b);
      }
      case 'query':
        return query(params as Record<string, unknown>);
      case 'send_tx':
      case 'broadcast_tx_commit':
      case 'broadcast_tx_async': {
        if (method !== 'broadcast_tx_async' && faults.timeoutNext > 0) {
          faults.timeoutNext--;
          throw handlerError('TIMEOUT_ERROR', undefined, 'Timeout', 408);
        }
        const rec = submit(arr ? arr[0] : obj.signed_tx_base64);
        if (method === 'broadcast_tx_async') return rec.hash;
        const wanted = (method === 'send_tx' ? (obj.wait_until as WaitUntil | undefined) : undefined) ?? 'EXECUTED_OPTIMISTIC';
        return waitFor(rec, wanted);
      }
      case 'tx':
      case 'EXPERIMENTAL_tx_status': {
        const hash = arr ? String(arr[0]) : obj.tx_hash ? String(obj.tx_hash) : undefined;
        const wanted = (obj.wait_until as WaitUntil | undefined) ?? 'EXECUTED_OPTIMISTIC';
        const rec = hash ? chain.tx(hash) : submit(obj.signed_tx_base64);
        if (!rec) {
          if (wanted === 'NONE') throw handlerError('UNKNOWN_TRANSACTION', { requested_transaction_hash: hash }, `Transaction ${hash} doesn't exist`);
          await new Promise((r) => setTimeout(r, pollingTimeout));
          throw handlerError('TIMEOUT_ERROR', undefined, 'Timeout', 408);
        }
        return waitFor(rec, wanted);
      }
      default:
        throw new RpcFailure(200, { name: 'REQUEST_VALIDATION_ERROR', cause: { name: 'METHOD_NOT_FOUND', info: { method_name: method } }, code: -32601, message: 'Method not found', data: method });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/status') return send(200, status());
    if (req.method === 'GET' && req.url === '/health') return send(200, null);
    let body = '';
    for await (const chunk of req) body += chunk;
    if (faults.latencyMs > 0) await new Promise((r) => setTimeout(r, faults.latencyMs));
    let msg: { id?: unknown; method?: string; params?: unknown };
    try {
      msg = JSON.parse(body);
    } catch (e) {
      return send(400, { jsonrpc: '2.0', id: null, error: { name: 'REQUEST_VALIDATION_ERROR', cause: { name: 'PARSE_ERROR', info: { error_message: (e as Error).message } }, code: -32700, message: 'Parse error', data: (e as Error).message } });
    }
    const method = String(msg.method);
    calls[method] = (calls[method] ?? 0) + 1;
    if (faults.failNext5xx > 0) {
      faults.failNext5xx--;
      return send(500, { jsonrpc: '2.0', id: msg.id, error: { name: 'INTERNAL_ERROR', cause: { name: 'INTERNAL_ERROR', info: { error_message: 'twin: injected internal error' } }, code: -32000, message: 'Server error', data: 'twin: injected internal error' } });
    }
    try {
      const result = await dispatch(method, msg.params);
      send(200, { jsonrpc: '2.0', result, id: msg.id });
    } catch (e) {
      if (e instanceof RpcFailure) return send(e.status, { jsonrpc: '2.0', error: e.error, id: msg.id });
      send(500, { jsonrpc: '2.0', id: msg.id, error: { name: 'INTERNAL_ERROR', cause: { name: 'INTERNAL_ERROR', info: { error_message: (e as Error).message } }, code: -32000, message: 'Server error', data: (e as Error).message } });
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', ok);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    faults,
    stats: () => ({ calls: { ...calls }, byRequestType: { ...byRequestType } }),
    stop: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}

function nsToIso(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // …sss Z
  return iso.replace('Z', `${(ns % 1_000_000n).toString().padStart(6, '0')}Z`);
}
