/** NEAR RPC through near-api-js: chain status, access keys, the MPC contract's views. */
import { JsonRpcProvider } from 'near-api-js';
import pMap from 'p-map';
import type { AccessKeyPermission, OnChainKey } from '../evidence.ts';
import { httpStatus, networkCode, withRetry } from '../retry.ts';
import { parseContractState } from './contract-state.ts';

/**
 * Each request is bounded: near-api-js's fetch has no timeout, so an RPC that accepts the
 * connection and never answers would hang the step. A request that does not answer in time counts
 * as transient (ETIMEDOUT) and is retried within the budget.
 */
function answerWithin<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, fail) => {
    timer = setTimeout(
      () => fail(Object.assign(new Error(`no answer within ${ms / 1000} s`), { code: 'ETIMEDOUT' })),
      ms,
    );
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * Whether the RPC was found not answering earlier in this run: one call that spent its whole budget
 * marks it, and every later call fails at once instead of waiting the same budget again.
 */
export interface RpcHealth {
  downSince(): string | undefined;
  markDown(reason: string): void;
}

export interface NearClientOptions {
  /** One request (then retried within the budget). */
  requestTimeoutMs?: number;
  /** Every request of one call together, retries included: the first sentence comes within it. */
  callBudgetMs?: number;
  health?: RpcHealth;
}

/** Network codes of an RPC that does not answer at all. */
const SILENT = /^(ETIMEDOUT|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|UND_ERR_[A-Z_]+)$/;

export function nearClient(url: string, contractId: string, o: NearClientOptions = {}) {
  // near-api-js retries 408/500/503 itself; keep that short and let withRetry own the budget.
  const provider = new JsonRpcProvider({ url }, { retries: 1, wait: 200, backoff: 1.5 });
  const timeoutMs = o.requestTimeoutMs ?? 10_000;
  const budgetMs = o.callBudgetMs ?? 15_000;
  const call = async <T>(what: string, fn: () => Promise<T>) => {
    const down = o.health?.downSince();
    if (down) throw Object.assign(new Error(`not checked: ${down}`), { code: 'ERPCDOWN' });
    const deadline = Date.now() + budgetMs;
    const attempt = () => answerWithin(Math.max(1, Math.min(timeoutMs, deadline - Date.now())), fn());
    return withRetry(what, attempt, { budgetMs }).catch((e: Error & { code?: string }) => {
      // Only a silent, refusing or failing RPC marks it down; an answer about the request does not.
      const status = httpStatus(e);
      if (SILENT.test(networkCode(e) ?? '') || (status !== undefined && status >= 500)) {
        o.health?.markDown(`the NEAR RPC at ${url} did not answer within ${budgetMs / 1000} s (${what})`);
      }
      throw e;
    });
  };
  const view = <T>(contractId: string, method: string, args: Record<string, unknown> = {}) =>
    call(`view ${method} on ${contractId}`, () => provider.callFunction({ contractId, method, args }) as Promise<T>);
  return {
    provider,
    status: () => call('RPC status', () => provider.viewNodeStatus()),
    viewAccount: (accountId: string) => call(`view_account ${accountId}`, () => provider.viewAccount({ accountId })),
    /** The chain's gas price now, in yoctoNEAR per gas. */
    gasPrice: async () => BigInt(String((await call('gas_price', () => provider.viewGasPrice())).gas_price)),
    /** One view_access_key_list per account, a few at a time. */
    async onChainKeys(accountIds: string[]): Promise<Map<string, OnChainKey[] | undefined>> {
      const keyLists = await pMap(
        accountIds,
        async (id) => {
          const list = await call(`view_access_key_list ${id}`, () => provider.viewAccessKeyList({ accountId: id }));
          const keys = list.keys.map((k) => ({
            publicKey: String(k.public_key),
            permission: k.access_key.permission as AccessKeyPermission,
          }));
          return [id, keys] as const;
        },
        { concurrency: 8 },
      );
      return new Map(keyLists);
    },
    contractState: async () => parseContractState(await view<unknown>(contractId, 'state')),
    contractView: <T>(method: string, args: Record<string, unknown> = {}) => view<T>(contractId, method, args),
    view,
  };
}
export type NearClient = ReturnType<typeof nearClient>;
