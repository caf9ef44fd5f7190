/**
 * nearcore's JSON-RPC error objects and HTTP statuses (nearcore ≥ 2.4), the block reference fields
 * every query result carries, and the `wait_until` levels of transactions.
 */
import type { Block, Chain } from './chain.ts';

export class RpcFailure extends Error {
  readonly status: number;
  readonly error: Record<string, unknown>;
  constructor(status: number, error: Record<string, unknown>) {
    super(String(error.name));
    this.status = status;
    this.error = error;
  }
}

export const handlerError = (cause: string, info: unknown, data: unknown, status = 200) =>
  new RpcFailure(status, {
    name: 'HANDLER_ERROR',
    cause: info === undefined ? { name: cause } : { name: cause, info },
    code: -32000,
    message: 'Server error',
    ...(data === undefined ? {} : { data }),
  });

export const parseError = (message: string) =>
  new RpcFailure(400, {
    name: 'REQUEST_VALIDATION_ERROR',
    cause: { name: 'PARSE_ERROR', info: { error_message: message } },
    code: -32700,
    message: 'Parse error',
    data: message,
  });

export const internalError = (message: string) =>
  new RpcFailure(500, {
    name: 'INTERNAL_ERROR',
    cause: { name: 'INTERNAL_ERROR', info: { error_message: message } },
    code: -32000,
    message: 'Server error',
    data: message,
  });

export const methodNotFound = (method: string) =>
  new RpcFailure(400, {
    name: 'REQUEST_VALIDATION_ERROR',
    cause: { name: 'METHOD_NOT_FOUND', info: { method_name: method } },
    code: -32601,
    message: 'Method not found',
    data: method,
  });

export const timeoutError = () => handlerError('TIMEOUT_ERROR', undefined, 'Timeout', 408);

export const blockRef = (b: Block) => ({ block_height: b.height, block_hash: b.hash });

export const STATUS_ORDER = ['NONE', 'INCLUDED', 'EXECUTED_OPTIMISTIC', 'INCLUDED_FINAL', 'EXECUTED', 'FINAL'] as const;
export type WaitUntil = (typeof STATUS_ORDER)[number];

/** nearcore's `tx_execution_status_meets_expectations`. */
export function meets(actual: WaitUntil, wanted: WaitUntil): boolean {
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

/** RFC 3339 UTC with a nanosecond fraction, as nearcore prints block times. */
export function nsToIso(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // …sssZ
  return iso.replace('Z', `${(ns % 1_000_000n).toString().padStart(6, '0')}Z`);
}

/** What the RPC handlers share: the chain, the server's identity, counters and pending waits. */
export interface RpcContext {
  chain: Chain;
  host: string;
  /** Set once the server listens. */
  port: number;
  startedAt: number;
  nodePublicKey: string;
  /** How long tx/send_tx wait for the requested status before TIMEOUT_ERROR. */
  pollingTimeout: number;
  /** Pending waits, woken on each block and failed on stop. */
  waiters: Set<{ check(): void; abort(): void }>;
  /** query request_type -> calls */
  byRequestType: Record<string, number>;
}
