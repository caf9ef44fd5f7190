/**
 * Bounded retries for transient failures of real systems (throttles, 5xx, timeouts, connection
 * resets); everything else fails at once with its evidence. Every wait says what it waited for.
 */
import pRetry, { AbortError } from 'p-retry';

const TRANSIENT = /Throttl|Rate exceeded|TooManyRequests|ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|socket hang up|Internal server error|Timeout error|InternalServiceError|InternalServerError|InternalFailure|ServiceUnavailable/i;

export function isTransient(e: unknown): boolean {
  const err = e as { name?: string; message?: string; cause?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = err?.$metadata?.httpStatusCode ?? (typeof err?.cause === 'number' ? err.cause : undefined);
  if (status !== undefined && [429, 500, 502, 503, 504, 408].includes(status)) return true;
  return TRANSIENT.test(`${err?.name ?? ''} ${err?.message ?? ''}`);
}

export async function withRetry<T>(what: string, fn: () => Promise<T>, opts: { retries?: number; minTimeout?: number } = {}): Promise<T> {
  return pRetry(async () => {
    try {
      return await fn();
    } catch (e) {
      if (!isTransient(e)) throw new AbortError(e as Error);
      throw e;
    }
  }, { retries: opts.retries ?? 4, minTimeout: opts.minTimeout ?? 200, factor: 2, maxTimeout: 3000 }).catch((e: unknown) => {
    const err = e as Error;
    if (!err.message.includes(what)) err.message = `${what}: ${err.message}`;
    throw err;
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
