/**
 * The boundary between the chain model and a contract model: the chain decodes transactions,
 * checks keys and nonces, and hands FunctionCall actions and call_function views to the contract
 * registered for the receiver account. The contract never sees borsh or RPC.
 */
export interface ViewContext {
  contractId: string;
  blockHeight: number;
}

export interface CallContext extends ViewContext {
  signerId: string;
  /** "ed25519:…" of the access key that signed the transaction. */
  signerPublicKey: string;
  predecessorId: string;
  attachedDeposit: bigint;
  prepaidGas: bigint;
}

export type ContractError = { kind: 'MethodNotFound' } | { kind: 'Panic'; message: string };

export type ContractOutcome =
  | { ok: true; value?: unknown; logs: string[] }
  | { ok: false; error: ContractError; logs: string[] };

export interface ContractModel {
  /** base58 sha256 of the code this model stands for (what view_account shows as code_hash). */
  readonly codeHash: string;
  view(method: string, args: unknown, ctx: ViewContext): ContractOutcome;
  call(method: string, args: unknown, ctx: CallContext): ContractOutcome;
}
