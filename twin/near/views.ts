/**
 * The views of the twin's chain (latest state): accounts, access keys, contract views and code, plus
 * nearcore's ActionView JSON of a decoded action. VM failures of a view are nearcore's
 * `wasm execution failed with error: <Debug>` texts.
 */
import { PublicKey } from 'near-api-js';
import type { ContractOutcome } from './contract-host.ts';
import {
  NO_CODE_HASH,
  actionName,
  clonePermission,
  head,
  permissionOf,
  pkString,
  sha256,
  type AccessKey,
  type Account,
  type CallViewResult,
  type ChainState,
  type DecodedAction,
  type Permission,
} from './model.ts';

const countView = (s: ChainState, name: string) => {
  s.stats.views[name] = (s.stats.views[name] ?? 0) + 1;
};

function storageUsage(acc: Account): number {
  return 182 + acc.keys.size * 100 + (acc.codeHash === NO_CODE_HASH ? 0 : 100_000);
}

export function viewAccount(s: ChainState, accountId: string) {
  countView(s, 'view_account');
  const acc = s.accounts.get(accountId);
  if (!acc) return undefined;
  return {
    amount: acc.amount.toString(),
    locked: acc.locked.toString(),
    code_hash: acc.codeHash,
    storage_usage: storageUsage(acc),
    storage_paid_at: 0,
  };
}

export function viewAccessKey(s: ChainState, accountId: string, publicKey: string) {
  countView(s, 'view_access_key');
  let pk = publicKey;
  try {
    pk = PublicKey.fromString(publicKey).toString();
  } catch {
    return undefined;
  }
  const key = s.accounts.get(accountId)?.keys.get(pk);
  return key ? { nonce: Number(key.nonce), permission: clonePermission(key.permission) } : undefined;
}

export function accessKeys(
  s: ChainState,
  accountId: string,
): { publicKey: string; nonce: bigint; permission: Permission }[] {
  return [...(s.accounts.get(accountId)?.keys ?? new Map<string, AccessKey>()).entries()].map(([publicKey, k]) => ({
    publicKey,
    nonce: k.nonce,
    permission: clonePermission(k.permission),
  }));
}

export function viewAccessKeyList(s: ChainState, accountId: string) {
  countView(s, 'view_access_key_list');
  return {
    keys: accessKeys(s, accountId).map((k) => ({
      public_key: k.publicKey,
      access_key: { nonce: Number(k.nonce), permission: k.permission },
    })),
  };
}

export function callView(
  s: ChainState,
  contractId: string,
  method: string,
  argsBytes: Uint8Array,
  blockHeight = head(s).height,
): CallViewResult {
  countView(s, 'call_function');
  const acc = s.accounts.get(contractId);
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
  s.stats.contractViews++;
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
export function viewCode(
  s: ChainState,
  accountId: string,
): { code_base64: string; hash: string } | 'UnknownAccount' | 'NoContractCode' {
  countView(s, 'view_code');
  const acc = s.accounts.get(accountId);
  if (!acc) return 'UnknownAccount';
  if (acc.codeHash === NO_CODE_HASH) return 'NoContractCode';
  return { code_base64: '', hash: acc.codeHash };
}

/** nearcore's ActionView JSON of one decoded action. */
export function actionView(a: DecodedAction): unknown {
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
