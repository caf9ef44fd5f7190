/**
 * Failure modes of the contract account (issue 14), each on the whole twin: the contract deployed but
 * never initialised, Running without domains, no code at all, another contract's code. Seen as the
 * runbook sees them: views through near-api-js and the nodes' `docker logs`.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { useTwin } from '../twin-fixture.ts';
import type { JsonRpcProvider } from 'near-api-js';
import { ContractCodeDoesNotExistError, ContractMethodNotFoundError, RpcError } from 'near-api-js/rpc-errors';
import type { Twin } from '../../twin/start.ts';
import { loadScenario } from '../../twin/scenario.ts';
import { OTHER_CONTRACT_CODE_HASH } from '../../twin/contract/other-contract.ts';
import { BLOCK_MS, logCount, nodeLog, providerOf, publicData, rejectionOf } from './failure-support.ts';

const READ_ERROR = 'ERROR mpc_node::indexer: error reading config from chain: ';
const POLL = { timeout: 120_000, interval: 100 };

/** Every node keeps failing to read the contract (two lines each), and never sends a transaction. */
async function nodesStuckReading(twin: Twin, detail: string) {
  await expect
    .poll(() => twin.nodes.map((n) => logCount(twin, n.index, `${READ_ERROR}${detail}`) >= 2), POLL)
    .toEqual(twin.nodes.map(() => true));
  for (const n of twin.nodes) {
    const log = nodeLog(twin, n.index);
    expect(log).not.toContain('sending tx');
    expect(log).not.toContain('submit attestation');
  }
  for (const n of twin.nodes) await publicData(twin, n.index); // the web server answers all the same
}

describe('contract-not-initialised', () => {
  const started = useTwin('contract-not-initialised', { blockTimeMs: BLOCK_MS });
  let twin: Twin;
  let provider: JsonRpcProvider;
  beforeAll(() => {
    twin = started();
    provider = providerOf(twin);
  });

  test('the 3.0.2 code is there, but every state-loading view panics "Calling default not allowed."', async () => {
    expect((await provider.viewAccount({ accountId: twin.contractId })).code_hash).toBe(
      '4SKLfbnrk2BL8zKTVxLybwXLq8TMLgaCbBaJ9JHfdCCU',
    );
    for (const method of ['state', 'version', 'public_key']) {
      const e = await rejectionOf(provider.callFunction({ contractId: twin.contractId, method, args: {} }));
      expect((e as Error).constructor).toBe(RpcError);
      expect((e as Error).message).toBe(
        'wasm execution failed with error: HostError(GuestPanic { panic_msg: "Calling default not allowed." })',
      );
    }
  });

  test('every node logs "error reading config from chain" again and again and never attests', async () => {
    await nodesStuckReading(twin, 'wasm execution failed with error: HostError(GuestPanic');
    expect(nodeLog(twin, 0)).toContain('panic_msg: "Calling default not allowed." })');
  });
});

describe('no-domain', () => {
  const started = useTwin('no-domain', { blockTimeMs: BLOCK_MS });
  let twin: Twin;
  let provider: JsonRpcProvider;
  beforeAll(() => {
    twin = started();
    provider = providerOf(twin);
  });

  test('Running in epoch 0 with zero domains; public_key and derived_public_key fail "No such domain."', async () => {
    const state = (await provider.callFunction({ contractId: twin.contractId, method: 'state', args: {} })) as any;
    expect(Object.keys(state)).toEqual(['Running']);
    expect(state.Running.domains).toEqual({ domains: [], next_domain_id: 0 });
    expect(state.Running.keyset).toEqual({ epoch_id: 0, domains: [] });
    expect(state.Running.add_domains_votes).toEqual({ proposal_by_account: {} });
    expect(state.Running.parameters.participants.participants.map((p: [string]) => p[0])).toEqual(
      twin.nodes.map((n) => n.accountId),
    );
    expect(await provider.callFunction({ contractId: twin.contractId, method: 'version', args: {} })).toBe('3.0.2');
    for (const [method, args] of [
      ['public_key', { domain_id: 0 }],
      ['derived_public_key', { path: 'ethereum-test', predecessor: 'test.localnet', domain_id: 0 }],
    ] as const) {
      const e = await rejectionOf(provider.callFunction({ contractId: twin.contractId, method, args }));
      expect((e as Error).constructor).toBe(RpcError);
      expect((e as Error).message).toBe(
        'wasm execution failed with error: HostError(GuestPanic { panic_msg: "No such domain." })',
      );
    }
  });

  test('every node attests, then logs "We have no keyshares. Waiting for Initialization."', async () => {
    await expect
      .poll(
        () => twin.nodes.map((n) => logCount(twin, n.index, 'We have no keyshares. Waiting for Initialization.')),
        POLL,
      )
      .toEqual(twin.nodes.map(() => 1));
    for (const n of twin.nodes) {
      expect(nodeLog(twin, n.index)).toContain('successfully submitted attestation');
      expect(nodeLog(twin, n.index)).not.toContain('ProcessTxResponse');
    }
    const tee = (await provider.callFunction({
      contractId: twin.contractId,
      method: 'get_tee_accounts',
      args: {},
    })) as { account_id: string; account_public_key: string | null }[];
    for (const n of twin.scenario.nodeList)
      expect(tee).toContainEqual(
        expect.objectContaining({ account_id: n.accountId, account_public_key: n.account.chain!.publicKey }),
      );
  });
});

describe('contract-missing', () => {
  const started = useTwin('contract-missing', { blockTimeMs: BLOCK_MS });
  let twin: Twin;
  let provider: JsonRpcProvider;
  beforeAll(() => {
    twin = started();
    provider = providerOf(twin);
  });

  test('the account has code_hash 1111…; views fail CodeDoesNotExist, view_code NO_CONTRACT_CODE', async () => {
    const acc = await provider.viewAccount({ accountId: twin.contractId });
    expect(acc.code_hash).toBe('11111111111111111111111111111111');
    expect(acc.amount).toBeGreaterThan(0n);
    for (const method of ['state', 'version']) {
      const e = await rejectionOf(provider.callFunction({ contractId: twin.contractId, method, args: {} }));
      expect(e).toBeInstanceOf(ContractCodeDoesNotExistError);
      expect((e as Error).message).toMatch(
        /^Contract code for contract ID v1\.signer\.localnet does not exist at block height \d+$/,
      );
    }
    expect(await rejectionOf(provider.viewContractCode({ contractId: twin.contractId }))).toBeInstanceOf(
      ContractCodeDoesNotExistError,
    );
  });

  test('every node logs "error reading config from chain: Contract code … does not exist"', async () => {
    await nodesStuckReading(twin, 'Contract code for contract ID v1.signer.localnet does not exist at block height ');
  });
});

describe('contract-missing, knob deployment.contract "other-code"', () => {
  const started = useTwin(
    () => ({
      ...loadScenario('contract-missing'),
      name: 'contract-other-code',
      deployment: { contract: 'other-code', nodes: {} },
    }),
    { blockTimeMs: BLOCK_MS },
  );
  let twin: Twin;
  let provider: JsonRpcProvider;
  beforeAll(() => {
    twin = started();
    provider = providerOf(twin);
  });

  test('an unknown code hash; MPC views are methods the code does not export; nodes cannot read', async () => {
    const codeHash = (await provider.viewAccount({ accountId: twin.contractId })).code_hash;
    expect(codeHash).toBe(OTHER_CONTRACT_CODE_HASH);
    expect(codeHash).not.toBe('4SKLfbnrk2BL8zKTVxLybwXLq8TMLgaCbBaJ9JHfdCCU');
    expect(codeHash).not.toBe('11111111111111111111111111111111');
    for (const method of ['state', 'version', 'public_key']) {
      const e = await rejectionOf(provider.callFunction({ contractId: twin.contractId, method, args: {} }));
      expect(e).toBeInstanceOf(ContractMethodNotFoundError);
      expect((e as Error).message).toMatch(/^Contract method is not found at block height \d+$/);
    }
    await nodesStuckReading(twin, 'Contract method is not found at block height ');
  });
});
