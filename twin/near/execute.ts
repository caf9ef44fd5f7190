/**
 * Receipt execution of the twin's chain: a block takes the pending transactions (each signer key's
 * in nonce order), checks them again against the state it sees, charges them and applies their
 * actions. A failing action rolls back every account the transaction touched and records nearcore's
 * ActionError.
 */
import { baseEncode } from 'near-api-js';
import type { CallContext, ContractOutcome } from './contract-host.ts';
import {
  FUNCTION_CALL_GAS_BURNT,
  GAS_PRICE,
  NONCE_MULTIPLIER,
  NO_CODE_HASH,
  TX_GAS_BURNT,
  actionName,
  appendBlock,
  b58hash,
  head,
  isImplicit,
  permissionOf,
  pkString,
  type Account,
  type Block,
  type ChainState,
  type DecodedAction,
  type DecodedTx,
  type TxRecord,
} from './model.ts';
import { validateStateful } from './verify.ts';

/** One transaction's receipt being applied. */
interface ReceiptRun {
  s: ChainState;
  record: TxRecord;
  t: DecodedTx;
  block: Block;
  receiver: string;
  /** Who acts on the receiver: the signer, or the receiver itself once CreateAccount made it. */
  actor: string;
  returnValue: string;
  gas: bigint;
  /** Remember an account's state before the receipt changes it (for the rollback). */
  touch(id: string): void;
}

/** An ActionError kind (nearcore's JSON), or undefined when the action succeeded. */
type ActionFailure = unknown;

function createAccountAction(run: ReceiptRun): ActionFailure {
  const { s, receiver, record } = run;
  if (s.accounts.has(receiver)) return { AccountAlreadyExists: { account_id: receiver } };
  const dot = receiver.indexOf('.');
  if (dot < 0 && !isImplicit(receiver)) {
    if (receiver.length < 32 && record.signerId !== 'registrar') {
      return {
        CreateAccountOnlyByRegistrar: {
          account_id: receiver,
          registrar_account_id: 'registrar',
          predecessor_id: record.signerId,
        },
      };
    }
  } else if (dot >= 0 && receiver.slice(dot + 1) !== record.signerId) {
    return { CreateAccountNotAllowed: { account_id: receiver, predecessor_id: record.signerId } };
  }
  s.accounts.set(receiver, { amount: 0n, locked: 0n, codeHash: NO_CODE_HASH, keys: new Map() });
  run.actor = receiver;
  return undefined;
}

function keyActions(run: ReceiptRun, acc: Account, a: DecodedAction): ActionFailure {
  const { receiver, block } = run;
  if (a.addKey) {
    const pk = pkString(a.addKey.publicKey);
    if (acc.keys.has(pk)) return { AddKeyAlreadyExists: { account_id: receiver, public_key: pk } };
    acc.keys.set(pk, {
      nonce: BigInt(block.height - 1) * NONCE_MULTIPLIER,
      permission: permissionOf(a.addKey.accessKey.permission),
    });
  } else if (a.deleteKey) {
    const pk = pkString(a.deleteKey.publicKey);
    if (!acc.keys.delete(pk)) return { DeleteKeyDoesNotExist: { account_id: receiver, public_key: pk } };
  }
  return undefined;
}

function accountActions(run: ReceiptRun, acc: Account, a: DecodedAction): ActionFailure {
  const { s, receiver } = run;
  if (a.deployContract) {
    acc.codeHash = b58hash(Uint8Array.from(a.deployContract.code));
    // the model (if any) stands for other code now
    if (acc.contract && acc.contract.codeHash !== acc.codeHash) delete acc.contract;
  } else if (a.stake) {
    if (BigInt(a.stake.stake) > 0n) {
      return {
        InsufficientStake: {
          account_id: receiver,
          stake: a.stake.stake.toString(),
          minimum_stake: (10n ** 30n).toString(),
        },
      };
    }
    if (acc.locked === 0n) return { TriesToUnstake: { account_id: receiver } };
  } else if (a.deleteAccount) {
    const beneficiary = a.deleteAccount.beneficiaryId;
    run.touch(beneficiary);
    const amount = acc.amount;
    s.accounts.delete(receiver);
    const ben = s.accounts.get(beneficiary);
    if (ben) ben.amount += amount;
  }
  return undefined;
}

function functionCallAction(
  run: ReceiptRun,
  acc: Account,
  signer: Account,
  fc: NonNullable<DecodedAction['functionCall']>,
): ActionFailure {
  const { s, receiver, record, block } = run;
  run.gas += FUNCTION_CALL_GAS_BURNT;
  if (!acc.contract) return { FunctionCallError: { CompilationError: { CodeDoesNotExist: { account_id: receiver } } } };
  const argsBytes = Uint8Array.from(fc.args);
  let args: unknown = {};
  if (argsBytes.length > 0) {
    try {
      args = JSON.parse(Buffer.from(argsBytes).toString('utf8'));
    } catch {
      return {
        FunctionCallError: { ExecutionError: 'Smart contract panicked: Failed to deserialize input from JSON.' },
      };
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
  s.stats.contractCalls++;
  let out: ContractOutcome;
  try {
    out = acc.contract.call(fc.methodName, args, ctx);
  } catch (e) {
    out = { ok: false as const, error: { kind: 'Panic' as const, message: (e as Error).message }, logs: [] };
  }
  record.logs.push(...out.logs);
  if (!out.ok) {
    return out.error.kind === 'MethodNotFound'
      ? { FunctionCallError: { MethodResolveError: 'MethodNotFound' } }
      : { FunctionCallError: { ExecutionError: `Smart contract panicked: ${out.error.message}` } };
  }
  signer.amount -= BigInt(fc.deposit);
  acc.amount += BigInt(fc.deposit);
  run.returnValue = out.value === undefined ? '' : Buffer.from(JSON.stringify(out.value)).toString('base64');
  return undefined;
}

function applyAction(run: ReceiptRun, a: DecodedAction, index: number): ActionFailure {
  const { s, receiver, record, t, block } = run;
  if (a.createAccount) return createAccountAction(run);
  let acc = s.accounts.get(receiver);
  if (!acc && a.transfer && isImplicit(receiver) && index === 0 && t.actions.length === 1) {
    // a transfer to a NEAR-implicit account creates it with its full access key
    acc = { amount: 0n, locked: 0n, codeHash: NO_CODE_HASH, keys: new Map() };
    acc.keys.set(`ed25519:${baseEncode(Buffer.from(receiver, 'hex'))}`, {
      nonce: BigInt(block.height - 1) * NONCE_MULTIPLIER,
      permission: 'FullAccess',
    });
    s.accounts.set(receiver, acc);
  }
  if (!acc) return { AccountDoesNotExist: { account_id: receiver } };
  const needsActor = a.deployContract || a.addKey || a.deleteKey || a.deleteAccount || a.stake;
  if (needsActor && run.actor !== receiver) return { ActorNoPermission: { account_id: receiver, actor_id: run.actor } };
  const signer = s.accounts.get(record.signerId)!;
  if (a.transfer) {
    signer.amount -= BigInt(a.transfer.deposit);
    acc.amount += BigInt(a.transfer.deposit);
    return undefined;
  }
  if (a.addKey || a.deleteKey) return keyActions(run, acc, a);
  if (a.functionCall) return functionCallAction(run, acc, signer, a.functionCall);
  return accountActions(run, acc, a);
}

/** Apply one tx's actions; on an action failure restore the touched accounts and record the ActionError. */
export function apply(s: ChainState, record: TxRecord, t: DecodedTx, block: Block) {
  const backup = new Map<string, Account | undefined>();
  const run: ReceiptRun = {
    s,
    record,
    t,
    block,
    receiver: record.receiverId,
    actor: record.signerId,
    returnValue: '',
    gas: 0n,
    touch(id: string) {
      if (!backup.has(id)) {
        const a = s.accounts.get(id);
        backup.set(id, a ? { ...a, keys: new Map([...a.keys].map(([k, v]) => [k, { ...v }])) } : undefined);
      }
    },
  };
  run.touch(run.receiver);
  run.touch(record.signerId);
  for (const [index, a] of t.actions.entries()) {
    const name = actionName(a);
    s.stats.actions[name] = (s.stats.actions[name] ?? 0) + 1;
    const failure = applyAction(run, a, index);
    if (failure !== undefined) {
      for (const [id, acc] of backup)
        if (acc) s.accounts.set(id, acc);
        else s.accounts.delete(id);
      record.status = { Failure: { ActionError: { index, kind: failure } } };
      return;
    }
  }
  record.receiptGasBurnt = run.gas;
  record.status = { SuccessValue: run.returnValue };
}

/** nearcore's pool hands out each (signer, key) group's transactions in nonce order. */
function inPoolOrder(batch: ChainState['pending']): ChainState['pending'] {
  const groups = new Map<string, ChainState['pending']>();
  for (const p of batch) {
    const k = `${p.record.signerId}|${p.record.publicKey}`;
    const g = groups.get(k);
    if (g) g.push(p);
    else groups.set(k, [p]);
  }
  return [...groups.values()].flatMap((g) =>
    g.sort((x, y) => (x.record.nonce < y.record.nonce ? -1 : x.record.nonce > y.record.nonce ? 1 : 0)),
  );
}

export function produceBlock(s: ChainState): Block {
  const ordered = inPoolOrder(s.pending);
  s.pending = [];
  const height = head(s).height + 1;
  const applied: ChainState['pending'] = [];
  const included: string[] = [];
  for (const p of ordered) {
    try {
      // re-check against the state this block sees: a same-nonce twin or a deleted key drops the tx
      const { signer, key, cost } = validateStateful(s, p.tx, p.record.hash, height - 1);
      applied.push(p);
      included.push(p.record.hash);
      // (the nonce, fee and allowance are charged here, before the next tx of the group is checked)
      key.nonce = p.record.nonce;
      signer.amount -= TX_GAS_BURNT * GAS_PRICE;
      // nearcore takes the whole cost from a FunctionCall key's allowance and never refunds it
      if (key.permission !== 'FullAccess' && key.permission.FunctionCall.allowance !== null)
        key.permission.FunctionCall.allowance = (BigInt(key.permission.FunctionCall.allowance) - cost).toString();
    } catch {
      s.txs.delete(p.record.hash);
      s.stats.txDropped++;
    }
  }
  const block = appendBlock(s, included);
  for (const { record, tx } of applied) {
    apply(s, record, tx, block);
    const signer = s.accounts.get(record.signerId);
    if (signer) signer.amount -= record.receiptGasBurnt * GAS_PRICE;
    record.includedIn = block;
    s.stats.txApplied++;
    if ('SuccessValue' in record.status!) s.stats.txSucceeded++;
    else s.stats.txFailed++;
  }
  for (const l of s.listeners) {
    try {
      l(block);
    } catch {
      // a listener's failure is not the chain's
    }
  }
  return block;
}
