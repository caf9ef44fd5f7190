/** Pure parts of the twin's MPC node: key rules of secrets.json and the /debug/contract text. */
import { base58 } from '@scure/base';
import { ed25519PublicKey } from '../ed25519.ts';

type Participant = [string, number, { url: string; sign_pk: string }];
interface Params {
  participants: { next_id: number; participants: Participant[] };
  threshold: number;
}
export type ContractStateJson =
  | 'NotInitialized'
  | {
      Running: {
        domains: { domains: { id: number; scheme: string }[] };
        keyset: { epoch_id: number; domains: { domain_id: number; attempt: number; key: unknown }[] };
        parameters: Params;
      };
    }
  | {
      Initializing: {
        epoch_id: number;
        domains: { domains: { id: number; scheme: string }[] };
        generating_key: {
          epoch_id: number;
          domain: { id: number; scheme: string };
          parameters: Params;
          next_attempt_id: number;
          instance: null | { attempt_id: number; started_in: number; expires_on: number; completed: number[] };
        };
      };
    };

/** The node's rules for a key in secrets.json; returns the public key, or the node's error text (never the key). */
export function validateNodeKey(value: unknown): string | { error: string } {
  if (typeof value !== 'string' || !value.startsWith('ed25519:'))
    return { error: "Key must start with 'ed25519:' prefix" };
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(value.slice('ed25519:'.length));
  } catch {
    return { error: 'invalid base58 encoding of key in secrets.json' };
  }
  if (bytes.length !== 64) return { error: 'Key pair bytes must be 64 bytes.' };
  const pub = ed25519PublicKey(bytes.slice(0, 32));
  if (base58.encode(pub) !== base58.encode(bytes.slice(32)))
    return { error: 'Key pair is inconsistent: public key does not match the secret key.' };
  return `ed25519:${base58.encode(pub)}`;
}

/** protocol_state_to_string of the node's /debug/contract. */
export function describeContract(s: ContractStateJson | undefined): string {
  if (!s || s === 'NotInitialized') return 'Contract is not initialized';
  if ('Running' in s) {
    const r = s.Running;
    return [
      'Contract is in Running state',
      `  Epoch: ${r.keyset.epoch_id}`,
      ...r.keyset.domains.map(
        (d) =>
          `  Domain ${d.domain_id}: ${r.domains.domains.find((x) => x.id === d.domain_id)?.scheme ?? '?'}, ` +
          `key from attempt ${d.attempt}`,
      ),
      ...r.parameters.participants.participants.map(([a, id, info]) => `  ID ${id}: ${a} (${info.url})`),
      `  Threshold: ${r.parameters.threshold}`,
    ].join('\n');
  }
  const i = s.Initializing;
  const ev = i.generating_key;
  const active = ev.instance
    ? `active; current attempt ID: ${ev.instance.attempt_id}`
    : `not active; next attempt ID: ${ev.next_attempt_id}`;
  return [
    `Contract is in Initializing state (key generation)  Epoch: ${i.epoch_id}`,
    `  Domain ${ev.domain.id}: ${ev.domain.scheme}, generating key: ${active}`,
  ].join('\n');
}

/** A near-api-js 7 error as the RPC answer became (fields per class; see near-api-js/rpc-errors). */
interface RpcErrorLike {
  name?: string;
  message?: string;
  /** near-api-js 6 `TypedError.type` */
  type?: string;
  accountId?: string;
  signerId?: string;
  publicKey?: { toString(): string };
  akReceiver?: string;
  txReceiver?: string;
  methodName?: string;
  allowance?: bigint;
  cost?: bigint;
  balance?: bigint;
  accessKeyNonce?: unknown;
  transactionNonce?: unknown;
  upperBound?: unknown;
}

/**
 * nearcore's Debug rendering of the InvalidTxError behind a near-api-js error, as the node logs it
 * inside `unexpected ProcessTxResponse: InvalidTx(…)`; undefined when the error is not an InvalidTx.
 *
 * Observed (mpc-facts §6.3 #1, the user's logs): only
 * `InvalidAccessKeyError(AccessKeyNotFound { account_id: mpc-node-0.localnet, public_key: ed25519:… })`.
 * Every other variant is DERIVED, not observed: Rust's derived Debug of nearcore's InvalidTxError and
 * InvalidAccessKeyError (core/primitives/src/errors.rs), with the field names and order of their JSON form
 * (near-rpc-facts §7.4); account ids and public keys bare as in the observed line; String fields
 * (`method_name`) quoted as Debug quotes a String; balances (`Balance` = u128 in the nearcore sources read;
 * nearcore PR #14235 later made it a NearToken, whose Debug may differ) as bare yoctoNEAR decimals; unit
 * variants by their name.
 */
export function describeInvalidTx(e: unknown, me: { accountId: string; publicKey: string }): string | undefined {
  const err = (e ?? {}) as RpcErrorLike;
  const key = (pk: { toString(): string } | undefined) => String(pk ?? me.publicKey);
  const notFound = () =>
    `InvalidAccessKeyError(AccessKeyNotFound { account_id: ${err.accountId ?? me.accountId}, ` +
    `public_key: ${key(err.publicKey)} })`;
  switch (err.name) {
    case 'AccessKeyNotFoundActionError':
      return notFound();
    case 'AccessKeyReceiverMismatchActionError':
      return (
        `InvalidAccessKeyError(ReceiverMismatch { tx_receiver: ${err.txReceiver}, ` +
        `ak_receiver: ${err.akReceiver} })`
      );
    case 'AccessKeyMethodNameMismatchActionError':
      return `InvalidAccessKeyError(MethodNameMismatch { method_name: ${JSON.stringify(err.methodName ?? '')} })`;
    case 'AccessKeyNotEnoughAllowanceActionError':
      return (
        `InvalidAccessKeyError(NotEnoughAllowance { account_id: ${err.accountId ?? me.accountId}, ` +
        `public_key: ${key(err.publicKey)}, allowance: ${err.allowance}, cost: ${err.cost} })`
      );
    case 'AccessKeyRequiresFullAccessActionError':
      return 'InvalidAccessKeyError(RequiresFullAccess)';
    case 'AccessKeyDepositWithFunctionCallActionError':
      return 'InvalidAccessKeyError(DepositWithFunctionCall)';
    case 'NotEnoughBalanceError':
      return (
        `NotEnoughBalance { signer_id: ${err.signerId ?? me.accountId}, ` +
        `balance: ${err.balance}, cost: ${err.cost} }`
      );
    case 'InvalidNonceError':
      return `InvalidNonce { tx_nonce: ${err.transactionNonce}, ak_nonce: ${err.accessKeyNonce} }`;
    case 'NonceTooLargeError':
      return `NonceTooLarge { tx_nonce: ${err.transactionNonce}, upper_bound: ${err.upperBound} }`;
    case 'SignerDoesNotExistError':
      return `SignerDoesNotExist { signer_id: ${err.signerId ?? me.accountId} }`;
    case 'InvalidSignatureError':
      return 'InvalidSignature';
    case 'InvalidChainError':
      return 'InvalidChain';
    case 'TransactionExpiredError':
      return 'Expired';
  }
  if (err.type === 'AccessKeyNotFound') return notFound();
  if (err.name && /Invalid|Expired|Signer|Nonce/.test(err.name) && !/Error$/.test(err.message ?? ''))
    return `${err.name}(${err.message})`;
  return undefined;
}

/** A tracing field recorded with `%` (Display): printed as its text, unquoted, even with spaces. */
export const display = (text: string): { toString(): string } => ({ toString: () => text });

/** Sleeps that a stop cuts short: `wakeAll` ends every pending sleep at once (the loops then see they must end). */
export function interruptibleSleep() {
  const pending = new Set<() => void>();
  const sleep = (ms: number) =>
    new Promise<void>((ok) => {
      const wake = () => {
        clearTimeout(t);
        pending.delete(wake);
        ok();
      };
      const t = setTimeout(wake, ms);
      pending.add(wake);
    });
  const wakeAll = () => {
    for (const wake of [...pending]) wake();
  };
  return { sleep, wakeAll };
}
