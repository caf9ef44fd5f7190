/**
 * Transaction verification of the twin's chain, in nearcore's order: decoding and the signature,
 * the stateless checks (ids, actions), then the checks against the state (signer, access key,
 * nonce, block hash, key permission, balance). Failures are nearcore's InvalidTxError values.
 */
import { decodeSignedTransaction, encodeTransaction, baseEncode, KeyType } from 'near-api-js';
import { ed25519Verify } from '../ed25519.ts';
import {
  GAS_PRICE,
  InvalidTx,
  NONCE_MULTIPLIER,
  TX_GAS_BURNT,
  TxDecodeError,
  isValidAccountId,
  sha256,
  type AccessKey,
  type Account,
  type ChainState,
  type DecodedTx,
} from './model.ts';

export interface DecodedSignedTx {
  t: DecodedTx;
  hash: string;
  hashBytes: Uint8Array;
  sig: { curve: string; data: Uint8Array };
}

export function decode(bytes: Uint8Array): DecodedSignedTx {
  let stx: ReturnType<typeof decodeSignedTransaction>;
  try {
    stx = decodeSignedTransaction(bytes);
  } catch {
    // nearcore fails borsh decoding at request parsing time (PARSE_ERROR); the RPC layer maps this.
    throw new TxDecodeError('Failed to decode transaction');
  }
  const t = stx.transaction as unknown as DecodedTx;
  const hashBytes = sha256(encodeTransaction(stx.transaction));
  const s = stx.signature as unknown as {
    ed25519Signature?: { data: ArrayLike<number> };
    secp256k1Signature?: { data: ArrayLike<number> };
  };
  const sig = s.ed25519Signature
    ? { curve: 'ed25519', data: Uint8Array.from(s.ed25519Signature.data) }
    : { curve: 'secp256k1', data: Uint8Array.from(s.secp256k1Signature?.data ?? []) };
  return { t, hash: baseEncode(hashBytes), hashBytes, sig };
}

/** The base58 hash of a signed transaction, without validating it (undefined if it does not decode). */
export function txHashOf(bytes: Uint8Array): string | undefined {
  try {
    return decode(bytes).hash;
  } catch {
    return undefined;
  }
}

/** ed25519 over sha256(borsh(Transaction)); InvalidSignature otherwise. */
export function verifySignature({ t, hash, hashBytes, sig }: DecodedSignedTx) {
  let verified = false;
  try {
    verified =
      sig.data.length > 0 &&
      (t.publicKey.keyType === KeyType.ED25519
        ? ed25519Verify(t.publicKey.data, hashBytes, sig.data)
        : t.publicKey.verify(hashBytes, sig.data));
  } catch {
    verified = false;
  }
  if (!verified) throw new InvalidTx('InvalidSignature', hash);
}

const deposits = (t: DecodedTx) =>
  t.actions.reduce((s, a) => s + BigInt(a.transfer?.deposit ?? a.functionCall?.deposit ?? 0n), 0n);
const prepaidGas = (t: DecodedTx) => t.actions.reduce((s, a) => s + BigInt(a.functionCall?.gas ?? 0n), 0n);
/** What the signer must be able to pay: deposits + all gas at the current price. */
export const txCost = (t: DecodedTx) => deposits(t) + (TX_GAS_BURNT + prepaidGas(t)) * GAS_PRICE;

/** Stateless checks (nearcore `validate_transaction`): ids and actions. */
export function validateStateless(t: DecodedTx, hash: string) {
  if (!isValidAccountId(t.signerId)) throw new InvalidTx({ InvalidSignerId: { signer_id: t.signerId } }, hash);
  if (!isValidAccountId(t.receiverId)) throw new InvalidTx({ InvalidReceiverId: { receiver_id: t.receiverId } }, hash);
  for (const [i, a] of t.actions.entries()) {
    if (a.functionCall && BigInt(a.functionCall.gas) === 0n)
      throw new InvalidTx({ ActionsValidation: 'FunctionCallZeroAttachedGas' }, hash);
    if (a.deleteAccount && i !== t.actions.length - 1)
      throw new InvalidTx({ ActionsValidation: 'DeleteActionMustBeFinal' }, hash);
    if (a.deleteAccount && !isValidAccountId(a.deleteAccount.beneficiaryId)) {
      throw new InvalidTx(
        { ActionsValidation: { InvalidAccountId: { account_id: a.deleteAccount.beneficiaryId } } },
        hash,
      );
    }
  }
}

function signerAndKey(s: ChainState, t: DecodedTx, hash: string): { signer: Account; key: AccessKey } {
  const publicKey = t.publicKey.toString();
  const signer = s.accounts.get(t.signerId);
  if (!signer) throw new InvalidTx({ SignerDoesNotExist: { signer_id: t.signerId } }, hash);
  const key = signer.keys.get(publicKey);
  if (!key)
    throw new InvalidTx(
      { InvalidAccessKeyError: { AccessKeyNotFound: { account_id: t.signerId, public_key: publicKey } } },
      hash,
    );
  return { signer, key };
}

function checkNonceAndBlockHash(s: ChainState, t: DecodedTx, key: AccessKey, hash: string, atHeight: number) {
  const nonce = BigInt(t.nonce);
  if (nonce <= key.nonce)
    throw new InvalidTx({ InvalidNonce: { tx_nonce: Number(nonce), ak_nonce: Number(key.nonce) } }, hash);
  const upper = BigInt(atHeight) * NONCE_MULTIPLIER;
  if (nonce >= upper)
    throw new InvalidTx({ NonceTooLarge: { tx_nonce: Number(nonce), upper_bound: Number(upper) } }, hash);
  const refHeight = s.heightOfHash.get(baseEncode(Uint8Array.from(t.blockHash)));
  if (refHeight === undefined) throw new InvalidTx('InvalidChain', hash);
  if (atHeight - refHeight > s.validity) throw new InvalidTx('Expired', hash);
}

/**
 * A FunctionCall key pays from its allowance (checked right after the balance, as nearcore does)
 * and allows one FunctionCall without deposit, to its receiver, of one of its methods (any when empty).
 */
function checkFunctionCallKey(t: DecodedTx, key: AccessKey, hash: string, cost: bigint) {
  if (key.permission === 'FullAccess') return;
  const fc = key.permission.FunctionCall;
  if (fc.allowance !== null && BigInt(fc.allowance) < cost) {
    const publicKey = t.publicKey.toString();
    const allowance = fc.allowance;
    throw new InvalidTx(
      {
        InvalidAccessKeyError: {
          NotEnoughAllowance: { account_id: t.signerId, public_key: publicKey, allowance, cost: cost.toString() },
        },
      },
      hash,
    );
  }
  const call = t.actions.length === 1 ? t.actions[0]!.functionCall : undefined;
  if (!call) throw new InvalidTx({ InvalidAccessKeyError: 'RequiresFullAccess' }, hash);
  if (BigInt(call.deposit) > 0n) throw new InvalidTx({ InvalidAccessKeyError: 'DepositWithFunctionCall' }, hash);
  if (t.receiverId !== fc.receiver_id) {
    throw new InvalidTx(
      { InvalidAccessKeyError: { ReceiverMismatch: { tx_receiver: t.receiverId, ak_receiver: fc.receiver_id } } },
      hash,
    );
  }
  if (fc.method_names.length > 0 && !fc.method_names.includes(call.methodName)) {
    throw new InvalidTx({ InvalidAccessKeyError: { MethodNameMismatch: { method_name: call.methodName } } }, hash);
  }
}

/**
 * Stateful checks against the current state, in the order of nearcore's `verify_and_charge_tx_ephemeral`
 * (runtime/runtime/src/verifier.rs): signer, access key, nonce, nonce upper bound, balance, allowance,
 * then the FunctionCall key's permission (RequiresFullAccess, DepositWithFunctionCall, ReceiverMismatch,
 * MethodNameMismatch). The block hash (InvalidChain / Expired) is checked with the nonce.
 * Returns what the transaction costs (what inclusion charges to the balance and the allowance).
 */
export function validateStateful(
  s: ChainState,
  t: DecodedTx,
  hash: string,
  atHeight: number,
): { signer: Account; key: AccessKey; cost: bigint } {
  const { signer, key } = signerAndKey(s, t, hash);
  checkNonceAndBlockHash(s, t, key, hash, atHeight);
  const cost = txCost(t);
  if (cost > signer.amount) {
    throw new InvalidTx(
      { NotEnoughBalance: { signer_id: t.signerId, balance: signer.amount.toString(), cost: cost.toString() } },
      hash,
    );
  }
  checkFunctionCallKey(t, key, hash, cost);
  return { signer, key, cost };
}
