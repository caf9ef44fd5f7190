/**
 * The twin's NEAR chain: accounts, access keys with nonces, blocks on a clock, and transactions
 * that are really verified (ed25519 over sha256 of the borsh Transaction) and applied in the next
 * block. Error values are nearcore's JSON shapes (InvalidTxError / ActionError), so the RPC layer
 * only wraps them.
 *
 * State is not versioned: views always read the latest state (the RPC reports the block asked for).
 * The parts: model.ts (data), verify.ts (transaction checks), execute.ts (blocks and receipts),
 * views.ts (queries); this file puts them together.
 */
import { baseDecode, baseEncode } from 'near-api-js';
import type { ContractModel } from './contract-host.ts';
import { produceBlock } from './execute.ts';
import {
  InvalidTx,
  NONCE_MULTIPLIER,
  NO_CODE_HASH,
  appendBlock,
  b58hash,
  blockByHeight,
  head,
  newChainState,
  normalizeKey,
  variantName,
  type AccessKey,
  type Account,
  type Block,
  type ChainOptions,
  type ChainState,
  type Permission,
  type TxRecord,
} from './model.ts';
import { decode, txHashOf, validateStateful, validateStateless, verifySignature } from './verify.ts';
import { accessKeys, actionView, callView, viewAccessKey, viewAccessKeyList, viewAccount, viewCode } from './views.ts';

export {
  GAS_PRICE,
  InvalidTx,
  NONCE_MULTIPLIER,
  NO_CODE_HASH,
  TX_GAS_BURNT,
  TxDecodeError,
  isValidAccountId,
  variantName,
  type AccessKey,
  type Account,
  type Block,
  type CallViewResult,
  type ChainOptions,
  type ChainStats,
  type Permission,
  type TxRecord,
  type TxStatus,
} from './model.ts';

export type Chain = ReturnType<typeof createChain>;

/**
 * Validate in nearcore's order; throws InvalidTx (or TxDecodeError for undecodable bytes), or queues the
 * tx for the next block. An identical already-known tx returns the known record.
 */
function submit(s: ChainState, bytes: Uint8Array): TxRecord {
  s.stats.txSubmitted++;
  try {
    const decoded = decode(bytes);
    const { t, hash, sig } = decoded;
    verifySignature(decoded);
    const known = s.txs.get(hash);
    if (known) {
      s.stats.txDuplicate++;
      return known;
    }
    validateStateless(t, hash);
    validateStateful(s, t, hash, head(s).height);
    const record: TxRecord = {
      hash,
      signerId: t.signerId,
      receiverId: t.receiverId,
      publicKey: t.publicKey.toString(),
      nonce: BigInt(t.nonce),
      signature: `${sig.curve}:${baseEncode(sig.data)}`,
      actionsView: t.actions.map(actionView),
      bytes: Uint8Array.from(bytes),
      submittedAt: head(s).height,
      logs: [],
      receiptId: b58hash(`receipt|${hash}`),
      receiptGasBurnt: 0n,
    };
    s.txs.set(hash, record);
    s.pending.push({ record, tx: t });
    s.stats.txAccepted++;
    return record;
  } catch (e) {
    s.stats.txRejected++;
    const kind = e instanceof InvalidTx ? variantName(e.data) : 'Decode';
    s.stats.rejectedBy[kind] = (s.stats.rejectedBy[kind] ?? 0) + 1;
    throw e;
  }
}

function requireAccount(s: ChainState, id: string): Account {
  const acc = s.accounts.get(id);
  if (!acc) throw new Error(`no account ${id}`);
  return acc;
}

export function createChain(opts: ChainOptions = {}) {
  const s = newChainState(opts);
  appendBlock(s, []);
  let timer: NodeJS.Timeout | undefined;

  return {
    chainId: s.chainId,
    blockTimeMs: s.blockTimeMs,
    transactionValidityPeriod: s.validity,
    genesisHash: s.genesisHash,
    stats: s.stats,
    get head(): Block {
      return head(s);
    },
    /** nearcore's final block lags two behind the head (never below the first block). */
    get finalBlock(): Block {
      return s.blocks[Math.max(0, s.blocks.length - 3)]!;
    },
    /** near-final (doomslug-final) block: one behind the head. */
    get nearFinalBlock(): Block {
      return s.blocks[Math.max(0, s.blocks.length - 2)]!;
    },
    blockByHeight: (h: number): Block | undefined => blockByHeight(s, h),
    blockByHash: (h: string): Block | undefined => s.byHash.get(h),
    /** The oldest block still held (history is bounded). */
    earliestBlock: (): Block => s.blocks[0]!,
    createAccount(
      accountId: string,
      o: { balance?: bigint; keys?: { publicKey: string; permission: Permission }[] } = {},
    ) {
      const keys = new Map<string, AccessKey>();
      for (const k of o.keys ?? []) keys.set(normalizeKey(k.publicKey), { nonce: 0n, permission: k.permission });
      s.accounts.set(accountId, { amount: o.balance ?? 0n, locked: 0n, codeHash: NO_CODE_HASH, keys });
    },
    deployContract(accountId: string, model: ContractModel) {
      const acc = requireAccount(s, accountId);
      acc.contract = model;
      acc.codeHash = model.codeHash;
    },
    /** Setup (the twin's genesis): the account holds no code, as if its deploy never happened. */
    removeContract(accountId: string) {
      const acc = requireAccount(s, accountId);
      delete acc.contract;
      acc.codeHash = NO_CODE_HASH;
    },
    /** Setup (the twin's genesis): the account's liquid balance in yoctoNEAR. */
    setBalance(accountId: string, amount: bigint) {
      requireAccount(s, accountId).amount = amount;
    },
    /** Setup (the twin's genesis): another permission for an existing access key (its nonce is kept). */
    setKeyPermission(accountId: string, publicKey: string, permission: Permission) {
      const key = requireAccount(s, accountId).keys.get(normalizeKey(publicKey));
      if (!key) throw new Error(`no access key ${publicKey} on ${accountId}`);
      key.permission = permission;
    },
    getAccount: (id: string): Account | undefined => s.accounts.get(id),
    accountIds: (): string[] => [...s.accounts.keys()],
    addAccessKey(accountId: string, publicKey: string, permission: Permission) {
      const acc = requireAccount(s, accountId);
      acc.keys.set(normalizeKey(publicKey), {
        nonce: BigInt(Math.max(0, head(s).height - 1)) * NONCE_MULTIPLIER,
        permission,
      });
    },
    deleteAccessKey(accountId: string, publicKey: string): boolean {
      return s.accounts.get(accountId)?.keys.delete(normalizeKey(publicKey)) ?? false;
    },
    accessKeys: (accountId: string) => accessKeys(s, accountId),
    viewAccount: (accountId: string) => viewAccount(s, accountId),
    viewAccessKey: (accountId: string, publicKey: string) => viewAccessKey(s, accountId, publicKey),
    viewAccessKeyList: (accountId: string) => viewAccessKeyList(s, accountId),
    callView: (contractId: string, method: string, argsBytes: Uint8Array, blockHeight = head(s).height) =>
      callView(s, contractId, method, argsBytes, blockHeight),
    viewCode: (accountId: string) => viewCode(s, accountId),
    submit: (bytes: Uint8Array): TxRecord => submit(s, bytes),
    txHashOf,
    tx: (hash: string): TxRecord | undefined => s.txs.get(hash),
    pendingCount: (): number => s.pending.length,
    produceBlock: (): Block => produceBlock(s),
    onBlock(l: (b: Block) => void): () => void {
      s.listeners.add(l);
      return () => {
        s.listeners.delete(l);
      };
    },
    start() {
      if (!timer) {
        timer = setInterval(() => produceBlock(s), s.blockTimeMs);
        timer.unref?.();
      }
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
    get running(): boolean {
      return timer !== undefined;
    },
    decodeHash: (h: string): Uint8Array => baseDecode(h),
  };
}
