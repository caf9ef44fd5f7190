/**
 * The twin's NEAR chain: accounts, access keys with nonces, blocks on a clock, and transactions
 * that are really verified (ed25519 over sha256 of the borsh Transaction) and applied in the next
 * block. Error values are nearcore's JSON shapes (InvalidTxError / ActionError), so the RPC layer
 * only wraps them.
 */
import { createHash } from 'node:crypto';
import { decodeSignedTransaction, encodeTransaction, PublicKey, baseEncode, baseDecode } from 'near-api-js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { CallContext, ContractModel } from './contract-host.ts';

export type Permission =
  | 'FullAccess'
  | { FunctionCall: { receiver_id: string; method_names: string[]; allowance: string | null } };

export interface AccessKey {
  nonce: bigint;
  permission: Permission;
}

export interface Account {
  amount: bigint;
  codeHash: string;
  keys: Map<string, AccessKey>;
  contract?: ContractModel;
}

export interface Block {
  height: number;
  hash: string;
  prevHash: string;
  timestampNs: bigint;
  txHashes: string[];
}

/** An InvalidTxError as nearcore serialises it inside `TxExecutionError`. */
export class InvalidTx extends Error {
  readonly data: unknown;
  constructor(data: unknown) {
    super(`InvalidTxError ${JSON.stringify(data)}`);
    this.data = data;
  }
}

export interface TxRecord {
  hash: string;
  signerId: string;
  receiverId: string;
  publicKey: string;
  nonce: bigint;
  signature: string;
  actionsView: unknown[];
  submittedAt: number; // head height at submission
  includedIn?: Block;
  status?: { SuccessValue: string } | { Failure: unknown };
  logs: string[];
  receiptId: string;
}

export const NO_CODE_HASH = '11111111111111111111111111111111';
const NONCE_MULTIPLIER = 1_000_000n;

interface DecodedAction {
  createAccount?: object;
  deployContract?: { code: number[] | Uint8Array };
  functionCall?: { methodName: string; args: number[] | Uint8Array; gas: bigint; deposit: bigint };
  transfer?: { deposit: bigint };
  addKey?: { publicKey: unknown; accessKey: { nonce: bigint; permission: { fullAccess?: object; functionCall?: { allowance?: bigint | null; receiverId: string; methodNames: string[] } } } };
  deleteKey?: { publicKey: unknown };
  deleteAccount?: { beneficiaryId: string };
}

const b58hash = (data: string | Uint8Array) => baseEncode(createHash('sha256').update(data).digest());
const pkString = (pk: unknown): string => {
  if (pk instanceof PublicKey) return pk.toString();
  const raw = pk as { ed25519Key?: { data: number[] }; secp256k1Key?: { data: number[] } };
  if (raw.ed25519Key) return `ed25519:${baseEncode(Uint8Array.from(raw.ed25519Key.data))}`;
  if (raw.secp256k1Key) return `secp256k1:${baseEncode(Uint8Array.from(raw.secp256k1Key.data))}`;
  throw new Error('unknown public key encoding');
};

export interface ChainOptions {
  chainId?: string;
  blockTimeMs?: number;
  transactionValidityPeriod?: number;
}

export type Chain = ReturnType<typeof createChain>;

export function createChain(opts: ChainOptions = {}) {
  const chainId = opts.chainId ?? 'localnet';
  const blockTimeMs = opts.blockTimeMs ?? 1000;
  const validity = opts.transactionValidityPeriod ?? 100;
  const accounts = new Map<string, Account>();
  const blocks: Block[] = [];
  const byHash = new Map<string, Block>();
  const txs = new Map<string, TxRecord>();
  let pending: { record: TxRecord; actions: DecodedAction[] }[] = [];
  const listeners = new Set<(b: Block) => void>();
  const stats = { blocks: 0, txSubmitted: 0, txRejected: 0, txApplied: 0 };
  let timer: NodeJS.Timeout | undefined;
  const genesisHash = b58hash(`genesis|${chainId}|${Date.now()}|${Math.random()}`);

  function appendBlock(txHashes: string[]): Block {
    const prev = blocks[blocks.length - 1];
    const height = prev ? prev.height + 1 : 1;
    const block: Block = {
      height,
      prevHash: prev?.hash ?? genesisHash,
      hash: b58hash(`${prev?.hash ?? genesisHash}|${height}|${txHashes.join(',')}`),
      timestampNs: BigInt(Date.now()) * 1_000_000n,
      txHashes,
    };
    blocks.push(block);
    byHash.set(block.hash, block);
    if (blocks.length > 2000) byHash.delete(blocks.shift()!.hash);
    stats.blocks++;
    return block;
  }
  appendBlock([]);

  const head = () => blocks[blocks.length - 1]!;

  function getAccount(id: string) {
    return accounts.get(id);
  }

  function createAccount(accountId: string, o: { balance?: bigint; keys?: { publicKey: string; permission: Permission }[] } = {}) {
    const keys = new Map<string, AccessKey>();
    for (const k of o.keys ?? []) keys.set(k.publicKey, { nonce: 0n, permission: k.permission });
    accounts.set(accountId, { amount: o.balance ?? 0n, codeHash: NO_CODE_HASH, keys });
  }

  function deployContract(accountId: string, model: ContractModel) {
    const acc = accounts.get(accountId);
    if (!acc) throw new Error(`no account ${accountId}`);
    acc.contract = model;
    acc.codeHash = model.codeHash;
  }

  /** Validate in nearcore's order; throws InvalidTx, or queues the tx for the next block. */
  function submit(bytes: Uint8Array): TxRecord {
    stats.txSubmitted++;
    let stx: ReturnType<typeof decodeSignedTransaction>;
    try {
      stx = decodeSignedTransaction(bytes);
    } catch {
      throw new InvalidTx('InvalidSignature');
    }
    const t = stx.transaction as unknown as {
      signerId: string; publicKey: PublicKey; nonce: bigint; receiverId: string; blockHash: number[] | Uint8Array; actions: DecodedAction[];
    };
    const hashBytes = sha256(encodeTransaction(stx.transaction));
    const hash = baseEncode(hashBytes);
    const known = txs.get(hash);
    if (known) return known;
    try {
      const sig = (stx.signature as unknown as { ed25519Signature?: { data: number[] } }).ed25519Signature;
      if (!sig || !t.publicKey.verify(hashBytes, Uint8Array.from(sig.data))) throw new InvalidTx('InvalidSignature');
      const publicKey = t.publicKey.toString();
      const signer = accounts.get(t.signerId);
      if (!signer) throw new InvalidTx({ SignerDoesNotExist: { signer_id: t.signerId } });
      const key = signer.keys.get(publicKey);
      if (!key) throw new InvalidTx({ InvalidAccessKeyError: { AccessKeyNotFound: { account_id: t.signerId, public_key: publicKey } } });
      const nonce = BigInt(t.nonce);
      if (nonce <= key.nonce) throw new InvalidTx({ InvalidNonce: { tx_nonce: Number(nonce), ak_nonce: Number(key.nonce) } });
      const upper = BigInt(head().height) * NONCE_MULTIPLIER;
      if (nonce >= upper) throw new InvalidTx({ NonceTooLarge: { tx_nonce: Number(nonce), upper_bound: Number(upper) } });
      const refBlock = byHash.get(baseEncode(Uint8Array.from(t.blockHash)));
      if (!refBlock) throw new InvalidTx('InvalidChain');
      if (head().height - refBlock.height > validity) throw new InvalidTx('Expired');
      if (key.permission !== 'FullAccess') {
        const fc = key.permission.FunctionCall;
        if (t.actions.length !== 1 || !t.actions[0]!.functionCall) throw new InvalidTx({ InvalidAccessKeyError: 'RequiresFullAccess' });
        const call = t.actions[0]!.functionCall;
        if (t.receiverId !== fc.receiver_id) {
          throw new InvalidTx({ InvalidAccessKeyError: { ReceiverMismatch: { tx_receiver: t.receiverId, ak_receiver: fc.receiver_id } } });
        }
        if (fc.method_names.length > 0 && !fc.method_names.includes(call.methodName)) {
          throw new InvalidTx({ InvalidAccessKeyError: { MethodNameMismatch: { method_name: call.methodName } } });
        }
        if (BigInt(call.deposit) > 0n) throw new InvalidTx({ InvalidAccessKeyError: 'DepositWithFunctionCall' });
      }
      for (const [i, a] of t.actions.entries()) {
        if (a.functionCall && BigInt(a.functionCall.gas) === 0n) {
          throw new InvalidTx({ ActionsValidation: { FunctionCallZeroAttachedGas: null }, index: i });
        }
      }
      const cost = t.actions.reduce((s, a) => s + BigInt(a.transfer?.deposit ?? a.functionCall?.deposit ?? 0n), 0n);
      if (cost > signer.amount) {
        throw new InvalidTx({ NotEnoughBalance: { signer_id: t.signerId, balance: signer.amount.toString(), cost: cost.toString() } });
      }
      key.nonce = nonce; // reserved now so a replay in the same block is rejected
      const sigBytes = Uint8Array.from(sig.data);
      const record: TxRecord = {
        hash, signerId: t.signerId, receiverId: t.receiverId, publicKey, nonce,
        signature: `ed25519:${baseEncode(sigBytes)}`,
        actionsView: t.actions.map(actionView), submittedAt: head().height, logs: [],
        receiptId: b58hash(`receipt|${hash}`),
      };
      txs.set(hash, record);
      pending.push({ record, actions: t.actions });
      return record;
    } catch (e) {
      stats.txRejected++;
      throw e;
    }
  }

  function actionView(a: DecodedAction): unknown {
    if (a.createAccount) return 'CreateAccount';
    if (a.deployContract) return { DeployContract: { code: b58hash(Uint8Array.from(a.deployContract.code)) } };
    if (a.functionCall) {
      return { FunctionCall: { method_name: a.functionCall.methodName, args: Buffer.from(Uint8Array.from(a.functionCall.args)).toString('base64'), gas: Number(a.functionCall.gas), deposit: a.functionCall.deposit.toString() } };
    }
    if (a.transfer) return { Transfer: { deposit: a.transfer.deposit.toString() } };
    if (a.addKey) return { AddKey: { public_key: pkString(a.addKey.publicKey), access_key: { nonce: 0, permission: permissionView(a.addKey.accessKey.permission) } } };
    if (a.deleteKey) return { DeleteKey: { public_key: pkString(a.deleteKey.publicKey) } };
    if (a.deleteAccount) return { DeleteAccount: { beneficiary_id: a.deleteAccount.beneficiaryId } };
    return 'Unknown';
  }

  function permissionView(p: NonNullable<DecodedAction['addKey']>['accessKey']['permission']): Permission {
    if (p.functionCall) {
      return { FunctionCall: { receiver_id: p.functionCall.receiverId, method_names: p.functionCall.methodNames, allowance: p.functionCall.allowance == null ? null : p.functionCall.allowance.toString() } };
    }
    return 'FullAccess';
  }

  /** Apply one tx's actions on a copy of the touched accounts; commit only on success. */
  function apply(record: TxRecord, actionsList: DecodedAction[], block: Block) {
    const touched = new Map<string, Account | undefined>();
    const snapshot = (id: string) => {
      if (!touched.has(id)) {
        const a = accounts.get(id);
        touched.set(id, a ? { ...a, keys: new Map(a.keys) } : undefined);
      }
    };
    const fail = (index: number, kind: unknown) => {
      for (const [id, a] of touched) if (a) accounts.set(id, a); else accounts.delete(id);
      record.status = { Failure: { ActionError: { index, kind } } };
    };
    let returnValue = '';
    for (const [index, a] of actionsList.entries()) {
      const receiver = record.receiverId;
      snapshot(receiver);
      snapshot(record.signerId);
      if (a.createAccount) {
        if (accounts.has(receiver)) return fail(index, { AccountAlreadyExists: { account_id: receiver } });
        const parent = receiver.split('.').slice(1).join('.');
        if (parent !== record.signerId) return fail(index, { CreateAccountNotAllowed: { account_id: receiver, predecessor_id: record.signerId } });
        accounts.set(receiver, { amount: 0n, codeHash: NO_CODE_HASH, keys: new Map() });
        continue;
      }
      const acc = accounts.get(receiver);
      if (!acc) return fail(index, { AccountDoesNotExist: { account_id: receiver } });
      if (a.transfer) {
        accounts.get(record.signerId)!.amount -= BigInt(a.transfer.deposit);
        acc.amount += BigInt(a.transfer.deposit);
      } else if (a.addKey) {
        const pk = pkString(a.addKey.publicKey);
        if (acc.keys.has(pk)) return fail(index, { AddKeyAlreadyExists: { account_id: receiver, public_key: pk } });
        acc.keys.set(pk, { nonce: BigInt(block.height - 1) * NONCE_MULTIPLIER, permission: permissionView(a.addKey.accessKey.permission) });
      } else if (a.deleteKey) {
        const pk = pkString(a.deleteKey.publicKey);
        if (!acc.keys.delete(pk)) return fail(index, { DeleteKeyDoesNotExist: { account_id: receiver, public_key: pk } });
      } else if (a.deployContract) {
        acc.codeHash = b58hash(Uint8Array.from(a.deployContract.code));
      } else if (a.functionCall) {
        const fc = a.functionCall;
        if (!acc.contract) return fail(index, { FunctionCallError: { CompilationError: { CodeDoesNotExist: { account_id: receiver } } } });
        const argsBytes = Uint8Array.from(fc.args);
        let args: unknown = {};
        if (argsBytes.length > 0) {
          try {
            args = JSON.parse(Buffer.from(argsBytes).toString('utf8'));
          } catch {
            return fail(index, { FunctionCallError: { ExecutionError: 'Smart contract panicked: Failed to deserialize input from JSON.' } });
          }
        }
        const ctx: CallContext = {
          contractId: receiver, blockHeight: block.height, signerId: record.signerId, signerPublicKey: record.publicKey,
          predecessorId: record.signerId, attachedDeposit: BigInt(fc.deposit), prepaidGas: BigInt(fc.gas),
        };
        const out = acc.contract.call(fc.methodName, args, ctx);
        record.logs.push(...out.logs);
        if (!out.ok) {
          return fail(index, out.error.kind === 'MethodNotFound'
            ? { FunctionCallError: { MethodResolveError: 'MethodNotFound' } }
            : { FunctionCallError: { ExecutionError: `Smart contract panicked: ${out.error.message}` } });
        }
        acc.amount += BigInt(fc.deposit);
        accounts.get(record.signerId)!.amount -= BigInt(fc.deposit);
        returnValue = out.value === undefined ? '' : Buffer.from(JSON.stringify(out.value)).toString('base64');
      }
    }
    record.status = { SuccessValue: returnValue };
  }

  function produceBlock(): Block {
    const batch = pending;
    pending = [];
    const block = appendBlock(batch.map((p) => p.record.hash));
    for (const { record, actions } of batch) {
      apply(record, actions, block);
      record.includedIn = block;
      stats.txApplied++;
    }
    for (const l of listeners) l(block);
    return block;
  }

  return {
    chainId,
    blockTimeMs,
    genesisHash,
    stats,
    get head() {
      return head();
    },
    /** nearcore's final block lags two behind the head. */
    get finalBlock() {
      return blocks[Math.max(0, blocks.length - 3)]!;
    },
    blockByHeight: (h: number) => blocks.find((b) => b.height === h),
    blockByHash: (h: string) => byHash.get(h),
    earliestBlock: () => blocks[0]!,
    createAccount,
    deployContract,
    getAccount,
    accountIds: () => [...accounts.keys()],
    addAccessKey(accountId: string, publicKey: string, permission: Permission) {
      const acc = accounts.get(accountId);
      if (!acc) throw new Error(`no account ${accountId}`);
      acc.keys.set(publicKey, { nonce: BigInt(head().height - 1) * NONCE_MULTIPLIER, permission });
    },
    deleteAccessKey(accountId: string, publicKey: string) {
      accounts.get(accountId)?.keys.delete(publicKey);
    },
    submit,
    tx: (hash: string) => txs.get(hash),
    produceBlock,
    onBlock(l: (b: Block) => void) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    start() {
      if (!timer) timer = setInterval(produceBlock, blockTimeMs);
      timer.unref?.();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
    decodeHash: (h: string) => baseDecode(h),
  };
}
