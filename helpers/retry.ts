/**
 * Bounded retries for transient failures of real systems (throttles, 5xx, timeouts, connection
 * resets); everything else fails at once with its evidence. Every wait says what it waited for.
 */
import pRetry, { AbortError } from 'p-retry';

const TRANSIENT = /Throttl|Rate exceeded|TooManyRequests|ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|UND_ERR_SOCKET|UND_ERR_CONNECT_TIMEOUT|socket hang up|Internal server error|Timeout error|TIMEOUT_ERROR|InternalServiceError|InternalServerError|InternalFailure|ServiceUnavailable/i;

/** The network error code of a failed fetch / socket (undici puts it on `cause`). */
export function networkCode(e: unknown): string | undefined {
  for (let c = e as { code?: unknown; cause?: unknown } | undefined, depth = 0; c && depth < 4; c = c.cause as typeof c, depth++) {
    if (typeof c.code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(c.code)) return c.code;
  }
  return undefined;
}

export function isTransient(e: unknown): boolean {
  const err = e as { name?: string; message?: string; type?: string; cause?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = err?.$metadata?.httpStatusCode ?? (typeof err?.cause === 'number' ? err.cause : undefined);
  if (status !== undefined && [429, 500, 502, 503, 504, 408].includes(status)) return true;
  const code = networkCode(e);
  if (code && /ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN|UND_ERR_SOCKET|UND_ERR_CONNECT_TIMEOUT/.test(code)) return true;
  return TRANSIENT.test(`${err?.name ?? ''} ${err?.type ?? ''} ${err?.message ?? ''}`);
}

/**
 * `fn` with bounded retries of transient failures. The error that ends it names `what` and keeps
 * the original's name, code and metadata; it is a new object, because SDKs reuse error objects
 * (a memoised credential provider rejects every caller with the same one).
 */
export async function withRetry<T>(what: string, fn: () => Promise<T>, opts: { retries?: number; minTimeout?: number } = {}): Promise<T> {
  return pRetry(async () => {
    try {
      return await fn();
    } catch (e) {
      if (!isTransient(e)) throw new AbortError(e as Error);
      throw e;
    }
  }, { retries: opts.retries ?? 4, minTimeout: opts.minTimeout ?? 200, factor: 2, maxTimeout: 3000 }).catch((e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    if (err.message.startsWith(`${what}:`)) throw err;
    const named = Object.assign(new Error(`${what}: ${err.message}`, { cause: err }), Object.fromEntries(Object.entries(err)));
    named.name = err.name;
    throw named;
  });
}

/** Poll until `check` returns a value (not undefined) or the deadline passes; the error says what was awaited and what was last seen. */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined>, o: { timeoutMs: number; intervalMs: number; onProgress?: (last: unknown) => void }): Promise<T> {
  const deadline = Date.now() + o.timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(o.timeoutMs / 1000)} s waiting for ${what}${last ? `; last seen: ${String(last)}` : ''}`);
    o.onProgress?.(last);
    await new Promise((r) => setTimeout(r, o.intervalMs));
  }
}
