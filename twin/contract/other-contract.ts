/**
 * A contract that is not the MPC signer: what an MPC_CONTRACT_ID account holds when someone deployed
 * another wasm there (scenario `contract-missing`, knob `other-code`). It stands for a near-examples
 * style greeting contract: `get_greeting` / `set_greeting`, nothing of v1.signer. Every other method
 * fails as nearcore fails a method the code does not export (MethodResolveError(MethodNotFound)).
 */
import { createHash } from 'node:crypto';
import { base58 } from '@scure/base';
import type { ContractModel } from '../near/contract-host.ts';

/** base58 sha256 of code the twin made up: a code hash no real MPC contract has. */
export const OTHER_CONTRACT_CODE_HASH = base58.encode(
  createHash('sha256').update('mpc-runbook twin: a greeting contract, not v1.signer').digest(),
);

export function createOtherContract(): ContractModel {
  let greeting = 'Hello';
  return {
    codeHash: OTHER_CONTRACT_CODE_HASH,
    view(method) {
      if (method === 'get_greeting') return { ok: true, value: greeting, logs: [] };
      return { ok: false, error: { kind: 'MethodNotFound' }, logs: [] };
    },
    call(method, args) {
      if (method === 'get_greeting') return { ok: true, value: greeting, logs: [] };
      if (method === 'set_greeting') {
        greeting = String((args as { greeting?: unknown })?.greeting ?? '');
        return { ok: true, logs: [`Saving greeting: ${greeting}`] };
      }
      return { ok: false, error: { kind: 'MethodNotFound' }, logs: [] };
    },
  };
}
