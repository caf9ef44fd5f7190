/**
 * Errors from real systems, classified: what happened, where, and what the operator does about it.
 * Pure logic (no I/O), so every class is unit-tested. Unknown errors keep their own message as the
 * evidence; nothing here ever quotes a secret (callers redact by value as well).
 */
import { httpStatus, networkCode } from './retry.ts';

export type FailureKind =
  | 'credentials-missing'
  | 'credentials-rejected'
  | 'access-denied'
  | 'unreachable'
  | 'throttled'
  | 'server-error'
  | 'unknown';

/** Where the call went: the system, its endpoint, and the setting that points at it. */
export interface Origin {
  system: string;
  endpoint?: string;
  setting?: string;
}

export interface ClassifiedFailure {
  kind: FailureKind;
  message: string;
}

const UNREACHABLE = new RegExp(
  '^(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EAI_AGAIN|ECONNRESET|' +
    'UND_ERR_CONNECT_TIMEOUT|UND_ERR_SOCKET)$',
);
const NO_CREDENTIALS = /Could not load credentials|Unable to find (a )?credentials|no credentials/i;
const REJECTED = new RegExp(
  'ExpiredToken|InvalidClientTokenId|UnrecognizedClient|InvalidSignature|SignatureDoesNotMatch|' +
    'security token included in the request is (invalid|expired)',
  'i',
);
const DENIED = /AccessDenied|UnauthorizedOperation|not authorized to perform/i;
const THROTTLED = /Throttl|Rate exceeded|TooManyRequests/i;

/** What the operator does about each kind (the first part of the message says what happened, where). */
const TO_DO = {
  credentialsMissing:
    'Set AWS_PROFILE (after `aws sso login`) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the account ' +
    'the stacks are in, then run again.',
  credentialsRejected: 'Refresh them (`aws sso login`, or new access keys) and run again.',
  denied: 'The role the runbook runs as needs this permission (see README "Permissions").',
  throttled: 'Run again later or with fewer concurrent runs.',
  serverError: "Check the service's health and logs, then run again.",
};

export function classifyFailure(e: unknown, origin: Origin): ClassifiedFailure {
  const err = (e instanceof Error ? e : new Error(String(e))) as Error & { Code?: string; code?: string };
  const name = err.name ?? '';
  const text = `${name} ${err.Code ?? ''} ${err.message}`;
  const where = `${origin.system}${origin.endpoint ? ` at ${origin.endpoint}` : ''}`;
  const said = firstLine(err.message);
  if (name === 'CredentialsProviderError' || NO_CREDENTIALS.test(text)) {
    const message = `${where}: no AWS credentials were found (${said}). ${TO_DO.credentialsMissing}`;
    return { kind: 'credentials-missing', message };
  }
  if (REJECTED.test(text)) {
    const message = `${where}: AWS rejected the credentials (${name}: ${said}). ${TO_DO.credentialsRejected}`;
    return { kind: 'credentials-rejected', message };
  }
  if (DENIED.test(text))
    return { kind: 'access-denied', message: `${where}: access denied (${said}). ${TO_DO.denied}` };
  const code = networkCode(e);
  const fetchFailed = !code && /fetch failed/.test(text) ? innermost(err).message : undefined;
  if ((code && UNREACHABLE.test(code)) || fetchFailed) {
    const check = `Check ${origin.setting ?? 'its address'} and that the service is up and reachable from here.`;
    return { kind: 'unreachable', message: `${where} is unreachable (${code ?? fetchFailed}). ${check}` };
  }
  if (THROTTLED.test(text)) {
    const message = `${where}: still throttled after the retry budget (${said}). ${TO_DO.throttled}`;
    return { kind: 'throttled', message };
  }
  const status = httpStatus(err);
  if (status !== undefined && status >= 500) {
    const message = `${where} kept answering HTTP ${status} through the retry budget (${said}). ${TO_DO.serverError}`;
    return { kind: 'server-error', message };
  }
  return { kind: 'unknown', message: `${where}: ${err.message}` };
}

/** The classified message as an Error, keeping the original as its cause. */
export function classified(e: unknown, origin: Origin): Error {
  const c = classifyFailure(e, origin);
  return Object.assign(new Error(c.message, { cause: e }), { kind: c.kind });
}

function innermost(e: Error): Error {
  let c: unknown = e;
  for (let depth = 0; depth < 5 && c instanceof Error && c.cause instanceof Error; depth++) c = c.cause;
  return c as Error;
}

const firstLine = (s: string) => s.split('\n')[0]!.slice(0, 300);
