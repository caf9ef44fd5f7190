/**
 * The data of the twin's NEAR chain: accounts, access keys, blocks, transaction records and the
 * counters, plus nearcore's error values. Shared by the chain's parts (verification, execution,
 * views) and re-exported by chain.ts, the chain's public face.
 */
import { createHash } from 'node:crypto';
import { PublicKey, baseEncode } from 'near-api-js';
import type { ContractModel } from './contract-host.ts';

export type Permission =
  | 'FullAccess'
  | { FunctionCall: { receiver_id: string; method_names: string[]; allowance: string | null } };

export interface AccessKey {
  nonce: bigint;
  permission: Permission;
}

export interface Account {
  amount: bigint;
  locked: bigint;
  codeHash: string;
  keys: Map<string, AccessKey>;
  contract?: ContractModel;
}

export interface Block {
  height: number;
  hash: string;
  prevHash: string;
  timestampNs: bigint;
  /** Hashes of the transactions applied in this block. */
  txHashes: string[];
}

/** An InvalidTxError as nearcore serialises it inside `TxExecutionError` (reference §7.4). */
export class InvalidTx extends Error {
  readonly data: unknown;
  /** base58 hash of the transaction, when it could be decoded. */
  readonly txHash: string | undefined;
  constructor(data: unknown, txHash?: string) {
    super(`InvalidTxError ${JSON.stringify(data)}`);
    this.name = 'InvalidTx';
    this.data = data;
    this.txHash = txHash;
  }
}

/** Bytes that are not a borsh SignedTransaction. */
export class TxDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TxDecodeError';
  }
}

/** nearcore's FinalExecutionStatus once applied. */
export type TxStatus = { SuccessValue: string } | { Failure: { ActionError: { index: number; kind: unknown } } };

export interface TxRecord {
  hash: string;
  signerId: string;
  receiverId: string;
  publicKey: string;
  nonce: bigint;
  /** "ed25519:<base58 sig>" */
  signature: string;
  /** ActionView JSON (nearcore's shapes). */
  actionsView: unknown[];
  /** The signed transaction bytes as submitted. */
  bytes: Uint8Array;
  /** Head height when the tx was accepted. */
  submittedAt: number;
  includedIn?: Block;
  status?: TxStatus;
  logs: string[];
  receiptId: string;
  /** Gas burnt by the receipt (the transaction's own conversion cost is TX_GAS_BURNT). */
  receiptGasBurnt: bigint;
}

export const NO_CODE_HASH = '11111111111111111111111111111111';
export const NONCE_MULTIPLIER = 1_000_000n;
/** yoctoNEAR per gas unit, as the block header reports it. */
export const GAS_PRICE = 100_000_000n;
/** Gas burnt converting a transaction into its receipt (shown in transaction_outcome). */
export const TX_GAS_BURNT = 2_428_000_000_000n;
export const FUNCTION_CALL_GAS_BURNT = 2_428_000_000_000n;
const HISTORY = 1000;

export interface DecodedPermission {
  fullAccess?: object;
  functionCall?: { allowance?: bigint | null; receiverId: string; methodNames: string[] };
}
export interface DecodedAction {
  createAccount?: object;
  deployContract?: { code: ArrayLike<number> };
  functionCall?: { methodName: string; args: ArrayLike<number>; gas: bigint; deposit: bigint };
  transfer?: { deposit: bigint };
  stake?: { stake: bigint; publicKey: unknown };
  addKey?: { publicKey: unknown; accessKey: { nonce: bigint; permission: DecodedPermission } };
  deleteKey?: { publicKey: unknown };
  deleteAccount?: { beneficiaryId: string };
}
export interface DecodedTx {
  signerId: string;
  publicKey: PublicKey;
  nonce: bigint;
  receiverId: string;
  blockHash: ArrayLike<number>;
  actions: DecodedAction[];
}

export interface ChainOptions {
  chainId?: string;
  blockTimeMs?: number;
  transactionValidityPeriod?: number;
}

export interface ChainStats {
  blocks: number;
  txSubmitted: number;
  txAccepted: number;
  txDuplicate: number;
  txRejected: number;
  /** InvalidTxError variant name -> count */
  rejectedBy: Record<string, number>;
  txApplied: number;
  txSucceeded: number;
  txFailed: number;
  /** Accepted into the pool but invalid against the state of the block that would include it. */
  txDropped: number;
  /** action kind (createAccount, functionCall, …) -> count applied */
  actions: Record<string, number>;
  contractCalls: number;
  contractViews: number;
  /** view name -> count */
  views: Record<string, number>;
}

export type CallViewResult =
  | { ok: true; result: Uint8Array; logs: string[] }
  | { ok: false; error: 'AccountDoesNotExist' }
  /** message = nearcore's `wasm execution failed with error: <Debug>` text. */
  | { ok: false; error: 'VmError'; message: string };

/** Everything the chain holds; its parts are functions over this. */
export interface ChainState {
  chainId: string;
  blockTimeMs: number;
  validity: number;
  historySize: number;
  accounts: Map<string, Account>;
  blocks: Block[];
  byHash: Map<string, Block>;
  /** Every block hash ever produced -> height (so a pruned but real hash gives Expired, not InvalidChain). */
  heightOfHash: Map<string, number>;
  txs: Map<string, TxRecord>;
  pending: { record: TxRecord; tx: DecodedTx }[];
  listeners: Set<(b: Block) => void>;
  stats: ChainStats;
  genesisHash: string;
}

export function newChainState(opts: ChainOptions): ChainState {
  const chainId = opts.chainId ?? 'localnet';
  const validity = opts.transactionValidityPeriod ?? 100;
  return {
    chainId,
    blockTimeMs: opts.blockTimeMs ?? 1000,
    validity,
    historySize: Math.max(HISTORY, validity + 10),
    accounts: new Map(),
    blocks: [],
    byHash: new Map(),
    heightOfHash: new Map(),
    txs: new Map(),
    pending: [],
    listeners: new Set(),
    stats: {
      blocks: 0,
      txSubmitted: 0,
      txAccepted: 0,
      txDuplicate: 0,
      txRejected: 0,
      rejectedBy: {},
      txApplied: 0,
      txSucceeded: 0,
      txFailed: 0,
      txDropped: 0,
      actions: {},
      contractCalls: 0,
      contractViews: 0,
      views: {},
    },
    genesisHash: b58hash(`genesis|${chainId}|${Date.now()}|${Math.random()}`),
  };
}

export const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest();
export const b58hash = (data: string | Uint8Array) => baseEncode(sha256(data));

export function pkString(pk: unknown): string {
  if (pk instanceof PublicKey) return pk.toString();
  const raw = pk as { ed25519Key?: { data: ArrayLike<number> }; secp256k1Key?: { data: ArrayLike<number> } };
  if (raw.ed25519Key) return `ed25519:${baseEncode(Uint8Array.from(raw.ed25519Key.data))}`;
  if (raw.secp256k1Key) return `secp256k1:${baseEncode(Uint8Array.from(raw.secp256k1Key.data))}`;
  throw new Error('unknown public key encoding');
}

export function actionName(a: DecodedAction): string {
  return Object.keys(a)[0] ?? 'unknown';
}

/** Account id rules (near-account-id). */
export function isValidAccountId(id: string): boolean {
  return id.length >= 2 && id.length <= 64 && /^(([a-z\d]+[-_])*[a-z\d]+\.)*([a-z\d]+[-_])*[a-z\d]+$/.test(id);
}
export const isImplicit = (id: string) => /^[0-9a-f]{64}$/.test(id);

/** "ed25519:<b58>" as near-api-js prints it (a string that does not parse is kept as given). */
export function normalizeKey(pk: string): string {
  try {
    return PublicKey.fromString(pk).toString();
  } catch {
    return pk;
  }
}

export function clonePermission(p: Permission): Permission {
  return p === 'FullAccess'
    ? p
    : { FunctionCall: { ...p.FunctionCall, method_names: [...p.FunctionCall.method_names] } };
}

/**
 * The variant's name: 'InvalidNonce' for {InvalidNonce:{…}},
 * 'AccessKeyNotFound' for {InvalidAccessKeyError:{AccessKeyNotFound:…}}, …
 */
export function variantName(data: unknown): string {
  if (typeof data === 'string') return data;
  if (data && typeof data === 'object') {
    const [k, v] = Object.entries(data)[0] ?? ['Unknown', undefined];
    if (k === 'InvalidAccessKeyError' || k === 'ActionsValidation') return variantName(v);
    return k;
  }
  return 'Unknown';
}

export function permissionOf(p: DecodedPermission): Permission {
  if (p.functionCall) {
    return {
      FunctionCall: {
        receiver_id: p.functionCall.receiverId,
        method_names: [...p.functionCall.methodNames],
        allowance: p.functionCall.allowance == null ? null : p.functionCall.allowance.toString(),
      },
    };
  }
  return 'FullAccess';
}

export const head = (s: ChainState): Block => s.blocks[s.blocks.length - 1]!;

export function blockByHeight(s: ChainState, h: number): Block | undefined {
  const first = s.blocks[0]!.height;
  return Number.isInteger(h) && h >= first ? s.blocks[h - first] : undefined;
}

export function appendBlock(s: ChainState, txHashes: string[]): Block {
  const prev = s.blocks[s.blocks.length - 1];
  const height = prev ? prev.height + 1 : 1;
  const prevHash = prev?.hash ?? s.genesisHash;
  const block: Block = {
    height,
    prevHash,
    hash: b58hash(`${prevHash}|${height}|${txHashes.join(',')}`),
    timestampNs: BigInt(Date.now()) * 1_000_000n + BigInt(height % 1_000_000),
    txHashes,
  };
  s.blocks.push(block);
  s.byHash.set(block.hash, block);
  s.heightOfHash.set(block.hash, height);
  if (s.blocks.length > s.historySize) s.byHash.delete(s.blocks.shift()!.hash);
  s.stats.blocks++;
  return block;
}
