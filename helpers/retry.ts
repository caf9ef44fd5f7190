/**
 * Bounded retries for transient failures of real systems (throttles, 5xx, timeouts, connection
 * resets); everything else fails at once with its evidence. Every wait says what it waited for.
 */
import pRetry, { AbortError } from 'p-retry';

const TRANSIENT = new RegExp(
  [
    'Throttl|Rate exceeded|TooManyRequests',
    'ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN|UND_ERR_SOCKET|UND_ERR_CONNECT_TIMEOUT|socket hang up',
    'Internal server error|Timeout error|TIMEOUT_ERROR',
    'InternalServiceError|InternalServerError|InternalFailure|ServiceUnavailable',
  ].join('|'),
  'i',
);

type Chained = { code?: unknown; cause?: unknown; $metadata?: { httpStatusCode?: number } };

/** The network error code of a failed fetch / socket, anywhere on the cause chain (undici puts it on `cause`). */
export function networkCode(e: unknown): string | undefined {
  for (
    let c = e as Chained | undefined, depth = 0;
    c && typeof c === 'object' && depth < 5;
    c = c.cause as Chained, depth++
  ) {
    if (typeof c.code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(c.code)) return c.code;
  }
  return undefined;
}

/** The HTTP status anywhere on the cause chain: AWS SDK `$metadata`, or near-api-js's numeric `cause`. */
export function httpStatus(e: unknown): number | undefined {
  for (
    let c = e as Chained | undefined, depth = 0;
    c && typeof c === 'object' && depth < 5;
    c = c.cause as Chained, depth++
  ) {
    if (c.$metadata?.httpStatusCode) return c.$metadata.httpStatusCode;
    if (typeof c.cause === 'number' && c.cause > 0) return c.cause;
  }
  return undefined;
}

export function isTransient(e: unknown): boolean {
  const status = httpStatus(e);
  if (status !== undefined && [408, 429, 500, 502, 503, 504].includes(status)) return true;
  const err = e as { name?: string; message?: string; type?: string };
  return TRANSIENT.test(`${err?.name ?? ''} ${err?.type ?? ''} ${err?.message ?? ''} ${networkCode(e) ?? ''}`);
}

/**
 * `fn` with bounded retries of transient failures. The error that ends it names `what` and keeps
 * the original's name, code and metadata; it is a new object, because SDKs reuse error objects
 * (a memoised credential provider rejects every caller with the same one).
 */
export async function withRetry<T>(
  what: string,
  fn: () => Promise<T>,
  opts: { retries?: number; minTimeout?: number; budgetMs?: number } = {},
): Promise<T> {
  return pRetry(
    async () => {
      try {
        return await fn();
      } catch (e) {
        if (!isTransient(e)) throw new AbortError(e as Error);
        throw e;
      }
    },
    {
      retries: opts.retries ?? 4,
      minTimeout: opts.minTimeout ?? 200,
      factor: 2,
      maxTimeout: 3000,
      ...(opts.budgetMs ? { maxRetryTime: opts.budgetMs } : {}),
    },
  ).catch((e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    if (err.message.startsWith(`${what}:`)) throw err;
    const named = Object.assign(
      new Error(`${what}: ${err.message}`, { cause: err }),
      Object.fromEntries(Object.entries(err)),
    );
    named.name = err.name;
    throw named;
  });
}

const lastSeen = (last: unknown) => (last ? `; last seen: ${String(last)}` : '');

/**
 * Between the checks of a repair wait (each a whole SSM command on the nodes): a third of the time waited
 * so far, 1–5 s. A node that comes back is seen at most a third of its time late and never more than 5 s
 * late. A two-minute wait of commands taking 1.2–3 s costs 16–22 of them, where a check every second
 * after the last cost 30–55.
 */
export const REPAIR_WAIT = { minMs: 1_000, maxMs: 5_000, lateShare: 1 / 3 } as const;
export const repairWaitDelay = (waitedMs: number): number =>
  Math.round(Math.min(REPAIR_WAIT.maxMs, Math.max(REPAIR_WAIT.minMs, waitedMs * REPAIR_WAIT.lateShare)));
/** waitUntil's intervalMs for a repair wait that began at `since`. */
export const repairWaitSince = (since: number) => () => repairWaitDelay(Date.now() - since);

/** Poll until `check` returns a value or the deadline passes; the error says what it awaited and saw. */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  o: {
    timeoutMs: number;
    /** Between checks: fixed, or by the number of checks made so far (1, 2, …) for a backing-off poll. */
    intervalMs: number | ((checks: number) => number);
    /** Wait this long before the first check (what is awaited cannot have happened sooner). */
    firstAfterMs?: number;
    onProgress?: (last: unknown) => void;
  },
): Promise<T> {
  const deadline = Date.now() + o.timeoutMs;
  let last: unknown;
  if (o.firstAfterMs) await new Promise((r) => setTimeout(r, o.firstAfterMs));
  for (let checks = 1; ; checks++) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${Math.round(o.timeoutMs / 1000)} s waiting for ${what}${lastSeen(last)}`);
    }
    o.onProgress?.(last);
    const wait = typeof o.intervalMs === 'number' ? o.intervalMs : o.intervalMs(checks);
    await new Promise((r) => setTimeout(r, wait));
  }
}
