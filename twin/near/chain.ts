/**
 * The twin's NEAR chain: accounts, access keys with nonces, blocks on a clock, and transactions
 * that are really verified (ed25519 over sha256 of the borsh Transaction) and applied in the next
 * block. Error values are nearcore's JSON shapes (InvalidTxError / ActionError), so the RPC layer
 * only wraps them.
 *
 * State is not versioned: views always read the latest state (the RPC reports the block asked for).
 */
import { createHash } from 'node:crypto';
import { decodeSignedTransaction, encodeTransaction, PublicKey, baseEncode, baseDecode } from 'near-api-js';
import type { CallContext, ContractModel, ContractOutcome } from './contract-host.ts';

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
const FUNCTION_CALL_GAS_BURNT = 2_428_000_000_000n;
const HISTORY = 1000;

interface DecodedPermission {
  fullAccess?: object;
  functionCall?: { allowance?: bigint | null; receiverId: string; methodNames: string[] };
}
interface DecodedAction {
  createAccount?: object;
  deployContract?: { code: ArrayLike<number> };
  functionCall?: { methodName: string; args: ArrayLike<number>; gas: bigint; deposit: bigint };
  transfer?: { deposit: bigint };
  stake?: { stake: bigint; publicKey: unknown };
  addKey?: { publicKey: unknown; accessKey: { nonce: bigint; permission: DecodedPermission } };
  deleteKey?: { publicKey: unknown };
  deleteAccount?: { beneficiaryId: string };
}
interface DecodedTx {
  signerId: string;
  publicKey: PublicKey;
  nonce: bigint;
  receiverId: string;
  blockHash: ArrayLike<number>;
  actions: DecodedAction[];
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest();
const b58hash = (data: string | Uint8Array) => baseEncode(sha256(data));

function pkString(pk: unknown): string {
  if (pk instanceof PublicKey) return pk.toString();
  const raw = pk as { ed25519Key?: { data: ArrayLike<number> }; secp256k1Key?: { data: ArrayLike<number> } };
  if (raw.ed25519Key) return `ed25519:${baseEncode(Uint8Array.from(raw.ed25519Key.data))}`;
  if (raw.secp256k1Key) return `secp256k1:${baseEncode(Uint8Array.from(raw.secp256k1Key.data))}`;
  throw new Error('unknown public key encoding');
}

function actionName(a: DecodedAction): string {
  return Object.keys(a)[0] ?? 'unknown';
}

/** Account id rules (near-account-id). */
export function isValidAccountId(id: string): boolean {
  return id.length >= 2 && id.length <= 64 && /^(([a-z\d]+[-_])*[a-z\d]+\.)*([a-z\d]+[-_])*[a-z\d]+$/.test(id);
}
const isImplicit = (id: string) => /^[0-9a-f]{64}$/.test(id);

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

export type Chain = ReturnType<typeof createChain>;

export function createChain(opts: ChainOptions = {}) {
  const chainId = opts.chainId ?? 'localnet';
  const blockTimeMs = opts.blockTimeMs ?? 1000;
  const validity = opts.transactionValidityPeriod ?? 100;
  const historySize = Math.max(HISTORY, validity + 10);
  const accounts = new Map<string, Account>();
  const blocks: Block[] = [];
  const byHash = new Map<string, Block>();
  /** Every block hash ever produced -> height (so a pruned but real hash gives Expired, not InvalidChain). */
  const heightOfHash = new Map<string, number>();
  const txs = new Map<string, TxRecord>();
  let pending: { record: TxRecord; tx: DecodedTx }[] = [];
  const listeners = new Set<(b: Block) => void>();
  const stats: ChainStats = {
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
  };
  const countView = (name: string) => {
    stats.views[name] = (stats.views[name] ?? 0) + 1;
  };
  let timer: NodeJS.Timeout | undefined;
  const genesisHash = b58hash(`genesis|${chainId}|${Date.now()}|${Math.random()}`);

  function appendBlock(txHashes: string[]): Block {
    const prev = blocks[blocks.length - 1];
    const height = prev ? prev.height + 1 : 1;
    const prevHash = prev?.hash ?? genesisHash;
    const block: Block = {
      height,
      prevHash,
      hash: b58hash(`${prevHash}|${height}|${txHashes.join(',')}`),
      timestampNs: BigInt(Date.now()) * 1_000_000n + BigInt(height % 1_000_000),
      txHashes,
    };
    blocks.push(block);
    byHash.set(block.hash, block);
    heightOfHash.set(block.hash, height);
    if (blocks.length > historySize) byHash.delete(blocks.shift()!.hash);
    stats.blocks++;
    return block;
  }
  appendBlock([]);

  const head = () => blocks[blocks.length - 1]!;
  const blockByHeight = (h: number): Block | undefined => {
    const first = blocks[0]!.height;
    return Number.isInteger(h) && h >= first ? blocks[h - first] : undefined;
  };

  function requireAccount(id: string): Account {
    const acc = accounts.get(id);
    if (!acc) throw new Error(`no account ${id}`);
    return acc;
  }

  function createAccount(
    accountId: string,
    o: { balance?: bigint; keys?: { publicKey: string; permission: Permission }[] } = {},
  ) {
    const keys = new Map<string, AccessKey>();
    for (const k of o.keys ?? []) keys.set(normalizeKey(k.publicKey), { nonce: 0n, permission: k.permission });
    accounts.set(accountId, { amount: o.balance ?? 0n, locked: 0n, codeHash: NO_CODE_HASH, keys });
  }

  function deployContract(accountId: string, model: ContractModel) {
    const acc = requireAccount(accountId);
    acc.contract = model;
    acc.codeHash = model.codeHash;
  }

  function permissionOf(p: DecodedPermission): Permission {
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

  function actionView(a: DecodedAction): unknown {
    if (a.createAccount) return 'CreateAccount';
    // nearcore's ActionView carries the sha256 of the code (base64), not the code
    if (a.deployContract)
      return { DeployContract: { code: sha256(Uint8Array.from(a.deployContract.code)).toString('base64') } };
    if (a.functionCall) {
      return {
        FunctionCall: {
          method_name: a.functionCall.methodName,
          args: Buffer.from(Uint8Array.from(a.functionCall.args)).toString('base64'),
          gas: Number(a.functionCall.gas),
          deposit: a.functionCall.deposit.toString(),
        },
      };
    }
    if (a.transfer) return { Transfer: { deposit: a.transfer.deposit.toString() } };
    if (a.stake) return { Stake: { stake: a.stake.stake.toString(), public_key: pkString(a.stake.publicKey) } };
    if (a.addKey) {
      return {
        AddKey: {
          public_key: pkString(a.addKey.publicKey),
          access_key: {
            nonce: Number(a.addKey.accessKey.nonce),
            permission: permissionOf(a.addKey.accessKey.permission),
          },
        },
      };
    }
    if (a.deleteKey) return { DeleteKey: { public_key: pkString(a.deleteKey.publicKey) } };
    if (a.deleteAccount) return { DeleteAccount: { beneficiary_id: a.deleteAccount.beneficiaryId } };
    return actionName(a);
  }

  const deposits = (t: DecodedTx) =>
    t.actions.reduce((s, a) => s + BigInt(a.transfer?.deposit ?? a.functionCall?.deposit ?? 0n), 0n);
  const prepaidGas = (t: DecodedTx) => t.actions.reduce((s, a) => s + BigInt(a.functionCall?.gas ?? 0n), 0n);
  /** What the signer must be able to pay: deposits + all gas at the current price. */
  const txCost = (t: DecodedTx) => deposits(t) + (TX_GAS_BURNT + prepaidGas(t)) * GAS_PRICE;

  /** Stateless checks (nearcore `validate_transaction`): ids and actions. */
  function validateStateless(t: DecodedTx, hash: string) {
    if (!isValidAccountId(t.signerId)) throw new InvalidTx({ InvalidSignerId: { signer_id: t.signerId } }, hash);
    if (!isValidAccountId(t.receiverId))
      throw new InvalidTx({ InvalidReceiverId: { receiver_id: t.receiverId } }, hash);
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

  /** Stateful checks against the current state (nearcore `verify_and_charge_transaction` + validity period). */
  function validateStateful(t: DecodedTx, hash: string, atHeight: number): { signer: Account; key: AccessKey } {
    const publicKey = t.publicKey.toString();
    const signer = accounts.get(t.signerId);
    if (!signer) throw new InvalidTx({ SignerDoesNotExist: { signer_id: t.signerId } }, hash);
    const key = signer.keys.get(publicKey);
    if (!key)
      throw new InvalidTx(
        { InvalidAccessKeyError: { AccessKeyNotFound: { account_id: t.signerId, public_key: publicKey } } },
        hash,
      );
    const nonce = BigInt(t.nonce);
    if (nonce <= key.nonce)
      throw new InvalidTx({ InvalidNonce: { tx_nonce: Number(nonce), ak_nonce: Number(key.nonce) } }, hash);
    const upper = BigInt(atHeight) * NONCE_MULTIPLIER;
    if (nonce >= upper)
      throw new InvalidTx({ NonceTooLarge: { tx_nonce: Number(nonce), upper_bound: Number(upper) } }, hash);
    const refHeight = heightOfHash.get(baseEncode(Uint8Array.from(t.blockHash)));
    if (refHeight === undefined) throw new InvalidTx('InvalidChain', hash);
    if (atHeight - refHeight > validity) throw new InvalidTx('Expired', hash);
    const cost = txCost(t);
    if (key.permission !== 'FullAccess') {
      const fc = key.permission.FunctionCall;
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
      if (fc.allowance !== null && BigInt(fc.allowance) < cost) {
        throw new InvalidTx(
          {
            InvalidAccessKeyError: {
              NotEnoughAllowance: {
                account_id: t.signerId,
                public_key: publicKey,
                allowance: fc.allowance,
                cost: cost.toString(),
              },
            },
          },
          hash,
        );
      }
    }
    if (cost > signer.amount) {
      throw new InvalidTx(
        { NotEnoughBalance: { signer_id: t.signerId, balance: signer.amount.toString(), cost: cost.toString() } },
        hash,
      );
    }
    return { signer, key };
  }

  function decode(bytes: Uint8Array): {
    t: DecodedTx;
    hash: string;
    hashBytes: Uint8Array;
    sig: { curve: string; data: Uint8Array };
  } {
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
  function txHashOf(bytes: Uint8Array): string | undefined {
    try {
      return decode(bytes).hash;
    } catch {
      return undefined;
    }
  }

  /**
   * Validate in nearcore's order; throws InvalidTx (or TxDecodeError for undecodable bytes), or queues the
   * tx for the next block. An identical already-known tx returns the known record.
   */
  function submit(bytes: Uint8Array): TxRecord {
    stats.txSubmitted++;
    try {
      const { t, hash, hashBytes, sig } = decode(bytes);
      let verified = false;
      try {
        verified = sig.data.length > 0 && t.publicKey.verify(hashBytes, sig.data);
      } catch {
        verified = false;
      }
      if (!verified) throw new InvalidTx('InvalidSignature', hash);
      const known = txs.get(hash);
      if (known) {
        stats.txDuplicate++;
        return known;
      }
      validateStateless(t, hash);
      validateStateful(t, hash, head().height);
      const record: TxRecord = {
        hash,
        signerId: t.signerId,
        receiverId: t.receiverId,
        publicKey: t.publicKey.toString(),
        nonce: BigInt(t.nonce),
        signature: `${sig.curve}:${baseEncode(sig.data)}`,
        actionsView: t.actions.map(actionView),
        bytes: Uint8Array.from(bytes),
        submittedAt: head().height,
        logs: [],
        receiptId: b58hash(`receipt|${hash}`),
        receiptGasBurnt: 0n,
      };
      txs.set(hash, record);
      pending.push({ record, tx: t });
      stats.txAccepted++;
      return record;
    } catch (e) {
      stats.txRejected++;
      const kind = e instanceof InvalidTx ? variantName(e.data) : 'Decode';
      stats.rejectedBy[kind] = (stats.rejectedBy[kind] ?? 0) + 1;
      throw e;
    }
  }

  /** Apply one tx's actions; on an action failure restore the touched accounts and record the ActionError. */
  function apply(record: TxRecord, t: DecodedTx, block: Block) {
    const backup = new Map<string, Account | undefined>();
    const touch = (id: string) => {
      if (!backup.has(id)) {
        const a = accounts.get(id);
        backup.set(id, a ? { ...a, keys: new Map([...a.keys].map(([k, v]) => [k, { ...v }])) } : undefined);
      }
    };
    const receiver = record.receiverId;
    touch(receiver);
    touch(record.signerId);
    const fail = (index: number, kind: unknown) => {
      for (const [id, a] of backup)
        if (a) accounts.set(id, a);
        else accounts.delete(id);
      record.status = { Failure: { ActionError: { index, kind } } };
    };
    let actor = record.signerId;
    let returnValue = '';
    let gas = 0n;
    for (const [index, a] of t.actions.entries()) {
      const name = actionName(a);
      stats.actions[name] = (stats.actions[name] ?? 0) + 1;
      if (a.createAccount) {
        if (accounts.has(receiver)) return fail(index, { AccountAlreadyExists: { account_id: receiver } });
        const dot = receiver.indexOf('.');
        if (dot < 0 && !isImplicit(receiver)) {
          if (receiver.length < 32 && record.signerId !== 'registrar') {
            return fail(index, {
              CreateAccountOnlyByRegistrar: {
                account_id: receiver,
                registrar_account_id: 'registrar',
                predecessor_id: record.signerId,
              },
            });
          }
        } else if (dot >= 0 && receiver.slice(dot + 1) !== record.signerId) {
          return fail(index, { CreateAccountNotAllowed: { account_id: receiver, predecessor_id: record.signerId } });
        }
        accounts.set(receiver, { amount: 0n, locked: 0n, codeHash: NO_CODE_HASH, keys: new Map() });
        actor = receiver;
        continue;
      }
      let acc = accounts.get(receiver);
      if (!acc && a.transfer && isImplicit(receiver) && index === 0 && t.actions.length === 1) {
        // a transfer to a NEAR-implicit account creates it with its full access key
        acc = { amount: 0n, locked: 0n, codeHash: NO_CODE_HASH, keys: new Map() };
        acc.keys.set(`ed25519:${baseEncode(Buffer.from(receiver, 'hex'))}`, {
          nonce: BigInt(block.height - 1) * NONCE_MULTIPLIER,
          permission: 'FullAccess',
        });
        accounts.set(receiver, acc);
      }
      if (!acc) return fail(index, { AccountDoesNotExist: { account_id: receiver } });
      const needsActor = a.deployContract || a.addKey || a.deleteKey || a.deleteAccount || a.stake;
      if (needsActor && actor !== receiver)
        return fail(index, { ActorNoPermission: { account_id: receiver, actor_id: actor } });
      const signer = accounts.get(record.signerId)!;
      if (a.transfer) {
        signer.amount -= BigInt(a.transfer.deposit);
        acc.amount += BigInt(a.transfer.deposit);
      } else if (a.addKey) {
        const pk = pkString(a.addKey.publicKey);
        if (acc.keys.has(pk)) return fail(index, { AddKeyAlreadyExists: { account_id: receiver, public_key: pk } });
        acc.keys.set(pk, {
          nonce: BigInt(block.height - 1) * NONCE_MULTIPLIER,
          permission: permissionOf(a.addKey.accessKey.permission),
        });
      } else if (a.deleteKey) {
        const pk = pkString(a.deleteKey.publicKey);
        if (!acc.keys.delete(pk))
          return fail(index, { DeleteKeyDoesNotExist: { account_id: receiver, public_key: pk } });
      } else if (a.deployContract) {
        acc.codeHash = b58hash(Uint8Array.from(a.deployContract.code));
        // the model (if any) stands for other code now
        if (acc.contract && acc.contract.codeHash !== acc.codeHash) delete acc.contract;
      } else if (a.stake) {
        if (BigInt(a.stake.stake) > 0n) {
          return fail(index, {
            InsufficientStake: {
              account_id: receiver,
              stake: a.stake.stake.toString(),
              minimum_stake: (10n ** 30n).toString(),
            },
          });
        }
        if (acc.locked === 0n) return fail(index, { TriesToUnstake: { account_id: receiver } });
      } else if (a.deleteAccount) {
        const beneficiary = a.deleteAccount.beneficiaryId;
        touch(beneficiary);
        const amount = acc.amount;
        accounts.delete(receiver);
        const ben = accounts.get(beneficiary);
        if (ben) ben.amount += amount;
      } else if (a.functionCall) {
        const fc = a.functionCall;
        gas += FUNCTION_CALL_GAS_BURNT;
        if (!acc.contract) {
          return fail(index, {
            FunctionCallError: { CompilationError: { CodeDoesNotExist: { account_id: receiver } } },
          });
        }
        const argsBytes = Uint8Array.from(fc.args);
        let args: unknown = {};
        if (argsBytes.length > 0) {
          try {
            args = JSON.parse(Buffer.from(argsBytes).toString('utf8'));
          } catch {
            return fail(index, {
              FunctionCallError: { ExecutionError: 'Smart contract panicked: Failed to deserialize input from JSON.' },
            });
          }
        }
        const ctx: CallContext = {
          contractId: receiver,
          blockHeight: block.height,
          signerId: record.signerId,
          signerPublicKey: record.publicKey,
          predecessorId: record.signerId,
          attachedDeposit: BigInt(fc.deposit),
          prepaidGas: BigInt(fc.gas),
        };
        stats.contractCalls++;
        let out: ContractOutcome;
        try {
          out = acc.contract.call(fc.methodName, args, ctx);
        } catch (e) {
          out = { ok: false as const, error: { kind: 'Panic' as const, message: (e as Error).message }, logs: [] };
        }
        record.logs.push(...out.logs);
        if (!out.ok) {
          return fail(
            index,
            out.error.kind === 'MethodNotFound'
              ? { FunctionCallError: { MethodResolveError: 'MethodNotFound' } }
              : { FunctionCallError: { ExecutionError: `Smart contract panicked: ${out.error.message}` } },
          );
        }
        signer.amount -= BigInt(fc.deposit);
        acc.amount += BigInt(fc.deposit);
        returnValue = out.value === undefined ? '' : Buffer.from(JSON.stringify(out.value)).toString('base64');
      }
    }
    record.receiptGasBurnt = gas;
    record.status = { SuccessValue: returnValue };
  }

  function produceBlock(): Block {
    const batch = pending;
    pending = [];
    // nearcore's pool hands out each (signer, key) group's transactions in nonce order
    const groups = new Map<string, { record: TxRecord; tx: DecodedTx }[]>();
    for (const p of batch) {
      const k = `${p.record.signerId}|${p.record.publicKey}`;
      const g = groups.get(k);
      if (g) g.push(p);
      else groups.set(k, [p]);
    }
    const ordered = [...groups.values()].flatMap((g) =>
      g.sort((x, y) => (x.record.nonce < y.record.nonce ? -1 : x.record.nonce > y.record.nonce ? 1 : 0)),
    );
    const height = head().height + 1;
    const applied: { record: TxRecord; tx: DecodedTx }[] = [];
    const included: string[] = [];
    for (const p of ordered) {
      try {
        // re-check against the state this block sees: a same-nonce twin or a deleted key drops the tx
        validateStateful(p.tx, p.record.hash, height - 1);
        applied.push(p);
        included.push(p.record.hash);
        // (the nonce and fee are charged in the loop below, before the next tx of the group is checked)
        const { key, signer } = {
          key: accounts.get(p.record.signerId)!.keys.get(p.record.publicKey)!,
          signer: accounts.get(p.record.signerId)!,
        };
        key.nonce = p.record.nonce;
        signer.amount -= TX_GAS_BURNT * GAS_PRICE;
      } catch {
        txs.delete(p.record.hash);
        stats.txDropped++;
      }
    }
    const block = appendBlock(included);
    for (const { record, tx } of applied) {
      apply(record, tx, block);
      const signer = accounts.get(record.signerId);
      if (signer) signer.amount -= record.receiptGasBurnt * GAS_PRICE;
      record.includedIn = block;
      stats.txApplied++;
      if ('SuccessValue' in record.status!) stats.txSucceeded++;
      else stats.txFailed++;
    }
    for (const l of listeners) {
      try {
        l(block);
      } catch {
        // a listener's failure is not the chain's
      }
    }
    return block;
  }

  // --- views (latest state) -----------------------------------------------------------------

  function storageUsage(acc: Account): number {
    return 182 + acc.keys.size * 100 + (acc.codeHash === NO_CODE_HASH ? 0 : 100_000);
  }

  function viewAccount(accountId: string) {
    countView('view_account');
    const acc = accounts.get(accountId);
    if (!acc) return undefined;
    return {
      amount: acc.amount.toString(),
      locked: acc.locked.toString(),
      code_hash: acc.codeHash,
      storage_usage: storageUsage(acc),
      storage_paid_at: 0,
    };
  }

  function viewAccessKey(accountId: string, publicKey: string) {
    countView('view_access_key');
    let pk = publicKey;
    try {
      pk = PublicKey.fromString(publicKey).toString();
    } catch {
      return undefined;
    }
    const key = accounts.get(accountId)?.keys.get(pk);
    return key ? { nonce: Number(key.nonce), permission: clonePermission(key.permission) } : undefined;
  }

  function accessKeys(accountId: string): { publicKey: string; nonce: bigint; permission: Permission }[] {
    return [...(accounts.get(accountId)?.keys ?? new Map<string, AccessKey>()).entries()].map(([publicKey, k]) => ({
      publicKey,
      nonce: k.nonce,
      permission: clonePermission(k.permission),
    }));
  }

  function viewAccessKeyList(accountId: string) {
    countView('view_access_key_list');
    return {
      keys: accessKeys(accountId).map((k) => ({
        public_key: k.publicKey,
        access_key: { nonce: Number(k.nonce), permission: k.permission },
      })),
    };
  }

  function callView(
    contractId: string,
    method: string,
    argsBytes: Uint8Array,
    blockHeight = head().height,
  ): CallViewResult {
    countView('call_function');
    const acc = accounts.get(contractId);
    if (!acc) return { ok: false, error: 'AccountDoesNotExist' };
    const vm = (debug: string): CallViewResult => ({
      ok: false,
      error: 'VmError',
      message: `wasm execution failed with error: ${debug}`,
    });
    if (!acc.contract) return vm(`CompilationError(CodeDoesNotExist { account_id: ${JSON.stringify(contractId)} })`);
    let args: unknown = {};
    if (argsBytes.length > 0) {
      try {
        args = JSON.parse(Buffer.from(argsBytes).toString('utf8'));
      } catch {
        return vm('HostError(GuestPanic { panic_msg: "Failed to deserialize input from JSON." })');
      }
    }
    stats.contractViews++;
    let out: ContractOutcome;
    try {
      out = acc.contract.view(method, args, { contractId, blockHeight });
    } catch (e) {
      out = { ok: false as const, error: { kind: 'Panic' as const, message: (e as Error).message }, logs: [] };
    }
    if (!out.ok) {
      return vm(
        out.error.kind === 'MethodNotFound'
          ? 'MethodResolveError(MethodNotFound)'
          : `HostError(GuestPanic { panic_msg: ${JSON.stringify(out.error.message)} })`,
      );
    }
    const result = out.value === undefined ? new Uint8Array() : new Uint8Array(Buffer.from(JSON.stringify(out.value)));
    return { ok: true, result, logs: out.logs };
  }

  /** 'UnknownAccount' | 'NoContractCode' | the code view (the twin holds no wasm: code_base64 is empty). */
  function viewCode(accountId: string): { code_base64: string; hash: string } | 'UnknownAccount' | 'NoContractCode' {
    countView('view_code');
    const acc = accounts.get(accountId);
    if (!acc) return 'UnknownAccount';
    if (acc.codeHash === NO_CODE_HASH) return 'NoContractCode';
    return { code_base64: '', hash: acc.codeHash };
  }

  return {
    chainId,
    blockTimeMs,
    transactionValidityPeriod: validity,
    genesisHash,
    stats,
    get head(): Block {
      return head();
    },
    /** nearcore's final block lags two behind the head (never below the first block). */
    get finalBlock(): Block {
      return blocks[Math.max(0, blocks.length - 3)]!;
    },
    /** near-final (doomslug-final) block: one behind the head. */
    get nearFinalBlock(): Block {
      return blocks[Math.max(0, blocks.length - 2)]!;
    },
    blockByHeight,
    blockByHash: (h: string): Block | undefined => byHash.get(h),
    /** The oldest block still held (history is bounded). */
    earliestBlock: (): Block => blocks[0]!,
    createAccount,
    deployContract,
    getAccount: (id: string): Account | undefined => accounts.get(id),
    accountIds: (): string[] => [...accounts.keys()],
    addAccessKey(accountId: string, publicKey: string, permission: Permission) {
      const acc = requireAccount(accountId);
      acc.keys.set(normalizeKey(publicKey), {
        nonce: BigInt(Math.max(0, head().height - 1)) * NONCE_MULTIPLIER,
        permission,
      });
    },
    deleteAccessKey(accountId: string, publicKey: string): boolean {
      return accounts.get(accountId)?.keys.delete(normalizeKey(publicKey)) ?? false;
    },
    accessKeys,
    viewAccount,
    viewAccessKey,
    viewAccessKeyList,
    callView,
    viewCode,
    submit,
    txHashOf,
    tx: (hash: string): TxRecord | undefined => txs.get(hash),
    pendingCount: (): number => pending.length,
    produceBlock,
    onBlock(l: (b: Block) => void): () => void {
      listeners.add(l);
      return () => {
        listeners.delete(l);
      };
    },
    start() {
      if (!timer) {
        timer = setInterval(produceBlock, blockTimeMs);
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

/** Bytes that are not a borsh SignedTransaction. */
export class TxDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TxDecodeError';
  }
}

/** "ed25519:<b58>" as near-api-js prints it (a string that does not parse is kept as given). */
function normalizeKey(pk: string): string {
  try {
    return PublicKey.fromString(pk).toString();
  } catch {
    return pk;
  }
}

function clonePermission(p: Permission): Permission {
  return p === 'FullAccess'
    ? p
    : { FunctionCall: { ...p.FunctionCall, method_names: [...p.FunctionCall.method_names] } };
}

/** 'InvalidNonce' for {InvalidNonce:{…}}, 'AccessKeyNotFound' for {InvalidAccessKeyError:{AccessKeyNotFound:…}}, … */
export function variantName(data: unknown): string {
  if (typeof data === 'string') return data;
  if (data && typeof data === 'object') {
    const [k, v] = Object.entries(data)[0] ?? ['Unknown', undefined];
    if (k === 'InvalidAccessKeyError' || k === 'ActionsValidation') return variantName(v);
    return k;
  }
  return 'Unknown';
}
