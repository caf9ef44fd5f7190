/**
 * nearcore-compatible JSON-RPC over HTTP for the twin's chain: the methods near-api-js and the MPC
 * node use, with nearcore's success and error shapes (structured errors, the HTTP-200 compat
 * `result.error` form, HTTP status codes of nearcore ≥ 2.4).
 *
 * The parts: rpc-protocol.ts (error objects, wait levels), rpc-blocks.ts (block references, block,
 * status, protocol config), rpc-query.ts (query), rpc-tx.ts (transactions); this file is the HTTP
 * server, the dispatch and the injected faults.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GAS_PRICE, type Chain } from './chain.ts';
import { blockView, nodePublicKeyFor, protocolConfig, resolveBlock, status } from './rpc-blocks.ts';
import {
  internalError,
  methodNotFound,
  parseError,
  RpcFailure,
  timeoutError,
  type RpcContext,
} from './rpc-protocol.ts';
import { query } from './rpc-query.ts';
import { broadcastAsync, sendTx, signedTxBytes, txStatus, waitUntilParam } from './rpc-tx.ts';

export interface NearRpcFaults {
  /** Added to every request before it is handled. */
  latencyMs: number;
  /** The next N calls answer HTTP 500 INTERNAL_ERROR. */
  failNext5xx: number;
  /** The next N send_tx/broadcast_tx_commit calls answer TIMEOUT_ERROR (HTTP 408) without applying. */
  timeoutNext: number;
  /**
   * The next N requests get no answer at all (an overloaded node or a dropped route): the client must
   * give up by itself.
   */
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

const MAX_BODY = 10 * 1024 * 1024;

interface Counters {
  calls: Record<string, number>;
  errors: Record<string, number>;
  http: Record<string, number>;
}

async function dispatch(ctx: RpcContext, faults: NearRpcFaults, method: string, params: unknown): Promise<unknown> {
  const { chain } = ctx;
  const obj = (params && typeof params === 'object' && !Array.isArray(params) ? params : {}) as Record<string, unknown>;
  const arr = Array.isArray(params) ? (params as unknown[]) : undefined;
  switch (method) {
    case 'status':
      return status(ctx);
    case 'health':
      return null;
    case 'block': {
      if (arr) {
        if (arr.length === 0) throw parseError('Require at least one parameter');
        return blockView(chain, resolveBlock(chain, { block_id: arr[0] }, true));
      }
      return blockView(chain, resolveBlock(chain, obj, true));
    }
    case 'query':
      return query(ctx, params);
    case 'send_tx':
    case 'broadcast_tx_commit': {
      const bytes = signedTxBytes(arr ? arr[0] : obj.signed_tx_base64);
      const wanted = method === 'send_tx' ? waitUntilParam(obj.wait_until) : 'EXECUTED_OPTIMISTIC';
      if (faults.timeoutNext > 0) {
        faults.timeoutNext--;
        throw timeoutError();
      }
      return sendTx(ctx, bytes, wanted);
    }
    case 'broadcast_tx_async':
      return broadcastAsync(chain, signedTxBytes(arr ? arr[0] : obj.signed_tx_base64));
    case 'EXPERIMENTAL_protocol_config':
      return protocolConfig(chain, obj);
    case 'gas_price': {
      if (arr && arr[0] !== null && arr[0] !== undefined) resolveBlock(chain, { block_id: arr[0] }, true);
      else if (obj.block_id !== undefined && obj.block_id !== null) resolveBlock(chain, obj, true);
      return { gas_price: GAS_PRICE.toString() };
    }
    case 'tx':
      return txStatus(ctx, params, false);
    case 'EXPERIMENTAL_tx_status':
      return txStatus(ctx, params, true);
    default:
      throw methodNotFound(method);
  }
}

/** The body of a POST, or undefined once it has answered 413 for a body over nearcore's limit. */
async function readBody(req: IncomingMessage, res: ServerResponse): Promise<string | undefined> {
  let body = '';
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) {
      res.writeHead(413);
      res.end();
      return undefined;
    }
    body += chunk;
  }
  return body;
}

async function handle(
  ctx: RpcContext,
  faults: NearRpcFaults,
  { calls, errors, http }: Counters,
  req: IncomingMessage,
  res: ServerResponse,
) {
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
  if (req.method === 'GET' && path === '/status') return send(200, status(ctx));
  if (req.method === 'GET' && path === '/health') return send(200, null);
  if (path !== '/') return send(404, null);
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST' });
    return void res.end();
  }
  const body = await readBody(req, res);
  if (body === undefined) return;
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
    const result = await dispatch(ctx, faults, method, msg.params);
    send(200, { jsonrpc: '2.0', result, id });
  } catch (e) {
    const f = e instanceof RpcFailure ? e : internalError((e as Error).message);
    send(f.status, { jsonrpc: '2.0', error: f.error, id });
  }
}

export async function startNearRpc(opts: NearRpcOptions): Promise<NearRpcServer> {
  const { chain } = opts;
  const ctx: RpcContext = {
    chain,
    host: opts.host ?? '127.0.0.1',
    port: 0,
    startedAt: Date.now(),
    nodePublicKey: nodePublicKeyFor(chain),
    pollingTimeout: opts.txPollingTimeoutMs ?? 10_000,
    waiters: new Set(),
    byRequestType: {},
  };
  const faults: NearRpcFaults = { latencyMs: 0, failNext5xx: 0, timeoutNext: 0 };
  const counters: Counters = { calls: {}, errors: {}, http: {} };
  let stopped = false;
  const unsubscribe = chain.onBlock(() => {
    for (const w of [...ctx.waiters]) w.check();
  });
  const server = createServer((req, res) => {
    handle(ctx, faults, counters, req, res).catch(() => res.destroy());
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, ctx.host, () => {
      server.off('error', fail);
      ok();
    });
  });
  ctx.port = (server.address() as AddressInfo).port;
  return {
    url: `http://${ctx.host}:${ctx.port}`,
    port: ctx.port,
    faults,
    stats: () => ({
      calls: { ...counters.calls },
      byRequestType: { ...ctx.byRequestType },
      errors: { ...counters.errors },
      http: { ...counters.http },
    }),
    stop: () =>
      new Promise<void>((ok) => {
        if (stopped) return ok();
        stopped = true;
        unsubscribe();
        for (const w of [...ctx.waiters]) w.abort();
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
