/** Errors from real systems are classified: a diagnosis with what to do, never a bare "fetch failed". */
import { describe, expect, test } from 'vitest';
import { classifyFailure } from '../../helpers/errors.ts';
import { isTransient, repairWaitDelay, waitUntil, withRetry } from '../../helpers/retry.ts';

const rpc = { system: 'NEAR RPC', endpoint: 'http://10.0.0.5:3030', setting: 'NEAR_RPC_URL' };
const named = (name: string, message: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { name }, extra);
const fetchFailed = (code: string) =>
  new TypeError('fetch failed', { cause: Object.assign(new Error(`connect ${code} 10.0.0.5:3030`), { code }) });

describe('classifyFailure', () => {
  test.for([
    [
      named('CredentialsProviderError', 'Could not load credentials from any providers'),
      'credentials-missing',
      /no AWS credentials were found .* Set AWS_PROFILE/,
    ],
    [
      named('ExpiredTokenException', 'The security token included in the request is expired'),
      'credentials-rejected',
      /AWS rejected the credentials \(ExpiredTokenException/,
    ],
    [
      named('UnrecognizedClientException', 'The security token included in the request is invalid.'),
      'credentials-rejected',
      /Refresh them/,
    ],
    [
      named(
        'AccessDeniedException',
        'User: arn:aws:sts::1:assumed-role/x is not authorized to perform: ssm:SendCommand',
      ),
      'access-denied',
      /access denied .*ssm:SendCommand/,
    ],
    [
      fetchFailed('ECONNREFUSED'),
      'unreachable',
      /^NEAR RPC at http:\/\/10\.0\.0\.5:3030 is unreachable \(ECONNREFUSED\)\. Check NEAR_RPC_URL/,
    ],
    [fetchFailed('ENOTFOUND'), 'unreachable', /unreachable \(ENOTFOUND\)/],
    [new TypeError('fetch failed', { cause: new Error('bad port') }), 'unreachable', /unreachable \(bad port\)/],
    [named('ThrottlingException', 'Rate exceeded'), 'throttled', /still throttled after the retry budget/],
    [
      named('ProviderError', 'RPC status: Internal server error', { cause: 500 }),
      'server-error',
      /kept answering HTTP 500 through the retry budget/,
    ],
    [named('InternalServerError', 'boom', { $metadata: { httpStatusCode: 503 } }), 'server-error', /HTTP 503/],
    [
      named('ValidationException', 'Stack with id X does not exist'),
      'unknown',
      /^NEAR RPC at http:\/\/10\.0\.0\.5:3030: Stack with id X does not exist$/,
    ],
  ] as const)('%s → %s', ([error, kind, message]) => {
    const c = classifyFailure(error, rpc);
    expect(c.kind).toBe(kind);
    expect(c.message).toMatch(message);
  });
});

describe('transient failures are retried, others are not', () => {
  test('a connection refused (on the cause) is transient; a validation error is not', () => {
    expect(isTransient(fetchFailed('ECONNREFUSED'))).toBe(true);
    expect(isTransient(named('ValidationException', 'bad input', { $metadata: { httpStatusCode: 400 } }))).toBe(false);
    expect(isTransient(named('InternalServerError', 'x', { $metadata: { httpStatusCode: 500 } }))).toBe(true);
  });

  test('withRetry retries a transient failure within its budget, and names the call', async () => {
    let calls = 0;
    await expect(
      withRetry(
        'RPC status',
        async () => {
          calls++;
          throw fetchFailed('ECONNREFUSED');
        },
        { retries: 2, minTimeout: 1 },
      ),
    ).rejects.toThrow(/^RPC status: fetch failed$/);
    expect(calls).toBe(3);
  });

  test('an error object shared by two callers is not prefixed twice (SDKs reuse them)', async () => {
    const shared = named('CredentialsProviderError', 'Could not load credentials from any providers');
    const a = await withRetry('DescribeStacks A', async () => {
      throw shared;
    }).catch((e: Error) => e);
    const b = await withRetry('DescribeStacks B', async () => {
      throw shared;
    }).catch((e: Error) => e);
    expect(a.message).toBe('DescribeStacks A: Could not load credentials from any providers');
    expect(b.message).toBe('DescribeStacks B: Could not load credentials from any providers');
    expect(b.name).toBe('CredentialsProviderError');
  });
});

describe('waitUntil polls at the pace it is given', () => {
  test('firstAfterMs holds the first check back; a backing-off interval spaces the rest', async () => {
    const t0 = Date.now();
    const at: number[] = [];
    const v = await waitUntil('the third check', async () => (at.push(Date.now() - t0) >= 3 ? 'seen' : undefined), {
      timeoutMs: 5_000,
      firstAfterMs: 50,
      intervalMs: (n) => 20 * n,
    });
    expect(v).toBe('seen');
    expect(at).toHaveLength(3);
    expect(at[0]).toBeGreaterThanOrEqual(45);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(15);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(35);
  });
});

describe('a repair wait backs off: a third of the time waited, 1–5 s between checks', () => {
  test('short first, then spaced by a third of the wait, never more than 5 s', () => {
    expect([0, 2_000, 3_000, 6_000, 12_000, 15_000, 120_000].map(repairWaitDelay)).toEqual([
      1_000, 1_000, 1_000, 2_000, 4_000, 5_000, 5_000,
    ]);
  });

  /** Checks a wait of `waitMs` makes when each check (an SSM command) takes `checkMs`. */
  const checksIn = (waitMs: number, checkMs: number, delay: (waitedMs: number) => number) => {
    let t = 0;
    let checks = 0;
    while (t < waitMs) {
      t += checkMs;
      checks++;
      t += delay(t);
    }
    return checks;
  };

  test.for([1_200, 2_000, 3_000])('two minutes of %i-ms checks: about half the commands of one a second', (checkMs) => {
    const backingOff = checksIn(120_000, checkMs, repairWaitDelay);
    const everySecond = checksIn(120_000, checkMs, () => 1_000);
    expect(backingOff).toBeLessThanOrEqual(22);
    expect(backingOff).toBeLessThanOrEqual(everySecond * 0.6);
  });
});
