/** NEAR RPC through near-api-js: chain status, access keys, the MPC contract's views. */
import { JsonRpcProvider } from 'near-api-js';
import type { AccessKeyPermission, OnChainKey } from '../evidence.ts';
import { withRetry } from '../retry.ts';
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

export function nearClient(url: string, contractId: string, o: { requestTimeoutMs?: number } = {}) {
  // near-api-js retries 408/500/503 itself; keep that short and let withRetry own the budget.
  const provider = new JsonRpcProvider({ url }, { retries: 1, wait: 200, backoff: 1.5 });
  const timeoutMs = o.requestTimeoutMs ?? 10_000;
  const call = <T>(what: string, fn: () => Promise<T>) => withRetry(what, () => answerWithin(timeoutMs, fn()));
  const view = <T>(contractId: string, method: string, args: Record<string, unknown> = {}) =>
    call(`view ${method} on ${contractId}`, () => provider.callFunction({ contractId, method, args }) as Promise<T>);
  return {
    provider,
    status: () => call('RPC status', () => provider.viewNodeStatus()),
    viewAccount: (accountId: string) => call(`view_account ${accountId}`, () => provider.viewAccount({ accountId })),
    /** One view_access_key_list per account, a few at a time. */
    async onChainKeys(accountIds: string[]): Promise<Map<string, OnChainKey[] | undefined>> {
      const out = new Map<string, OnChainKey[] | undefined>();
      const queue = [...accountIds];
      await Promise.all(
        Array.from({ length: Math.min(8, queue.length) }, async () => {
          for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
            const list = await call(`view_access_key_list ${id}`, () => provider.viewAccessKeyList({ accountId: id! }));
            out.set(
              id,
              list.keys.map((k) => ({
                publicKey: String(k.public_key),
                permission: k.access_key.permission as AccessKeyPermission,
              })),
            );
          }
        }),
      );
      return out;
    },
    contractState: async () => parseContractState(await view<unknown>(contractId, 'state')),
    contractView: <T>(method: string, args: Record<string, unknown> = {}) => view<T>(contractId, method, args),
    view,
  };
}
export type NearClient = ReturnType<typeof nearClient>;
