/**
 * Failure modes of a node's account and access key (issue 14), each on the whole twin: a FunctionCall key
 * without the node's methods (or for another receiver), one whose allowance is spent, an account too poor to
 * pay gas. The node's transactions fail as nearcore fails them and its log shows the InvalidTx; the other
 * nodes stay healthy and the contract stays in Initializing.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { useTwin } from '../twin-fixture.ts';
import type { JsonRpcProvider } from 'near-api-js';
import type { Twin } from '../../twin/start.ts';
import { loadScenario } from '../../twin/scenario.ts';
import { BLOCK_MS, logCount, nodeLog, providerOf, stateOf } from './failure-support.ts';

const POLL = { timeout: 120_000, interval: 100 };
const FORWARD = 'ERROR mpc_node::indexer::tx_sender: Failed to forward transaction SubmitParticipantInfo(…) ';
/** What one node call (300 TGas, no deposit) costs: (tx conversion 2.428 TGas + 300 TGas) × 1e8 yocto/gas. */
const CALL_COST = '30242800000000000000000';

/**
 * Node `bad` logs `err=unexpected ProcessTxResponse: InvalidTx(<invalid>)` for its attestation over and over,
 * never attests; every other node attests; nobody logs another InvalidTx; the contract is still Initializing.
 */
async function onlyNodeFails(twin: Twin, bad: number, invalid: string) {
  const line = `${FORWARD}err=unexpected ProcessTxResponse: InvalidTx(${invalid})`;
  const others = twin.nodes.filter((n) => n.index !== bad);
  await expect
    .poll(
      () => [
        logCount(twin, bad, line) >= 2,
        ...others.map((n) => logCount(twin, n.index, 'successfully submitted attestation')),
      ],
      POLL,
    )
    .toEqual([true, ...others.map(() => 1)]);
  const log = nodeLog(twin, bad);
  expect(log).toContain('WARN mpc_node::tee: failed to submit attestation');
  expect(log).not.toContain('successfully submitted attestation');
  for (const n of others) expect(nodeLog(twin, n.index)).not.toContain('ProcessTxResponse');
  const state = await stateOf(twin);
  expect(Object.keys(state)).toEqual(['Initializing']);
  expect(state.Initializing.generating_key.instance?.completed ?? []).not.toContain(bad);
}

describe('fc-key-wrong-methods', () => {
  const started = useTwin('fc-key-wrong-methods', { blockTimeMs: BLOCK_MS });
  let twin: Twin;
  let provider: JsonRpcProvider;
  beforeAll(() => {
    twin = started();
    provider = providerOf(twin);
  });

  test("node 1's key is a FunctionCall key for the contract without submit_participant_info", async () => {
    const n = twin.scenario.nodeList[1]!;
    const list = await provider.viewAccessKeyList({ accountId: n.accountId });
    expect(list.keys).toHaveLength(1);
    expect(list.keys[0]!.public_key).toBe(n.account.chain!.publicKey);
    const fc = (list.keys[0]!.access_key.permission as { FunctionCall: Record<string, unknown> }).FunctionCall;
    expect(fc).toEqual({
      receiver_id: 'v1.signer.localnet',
      method_names: [
        'respond',
        'vote_pk',
        'start_keygen_instance',
        'vote_reshared',
        'start_reshare_instance',
        'vote_abort_key_event_instance',
      ],
      allowance: null,
    });
    for (const other of [0, 2]) {
      const keys = await provider.viewAccessKeyList({ accountId: twin.scenario.nodeList[other]!.accountId });
      expect(keys.keys[0]!.access_key.permission).toBe('FullAccess');
    }
  });

  test('node 1 fails MethodNameMismatch at every attestation; the others attest; still Initializing', async () => {
    await onlyNodeFails(
      twin,
      1,
      'InvalidAccessKeyError(MethodNameMismatch { method_name: "submit_participant_info" })',
    );
  });
});

describe('fc-key-wrong-methods, knob functionCallKey.receiverId', () => {
  const started = useTwin(
    () => ({
      ...loadScenario('fc-key-wrong-methods'),
      name: 'fc-key-wrong-receiver',
      deployment: { contract: 'initialised', nodes: { '1': { functionCallKey: { receiverId: 'v1.signer.node0' } } } },
    }),
    { blockTimeMs: BLOCK_MS },
  );
  let twin: Twin;
  beforeAll(() => {
    twin = started();
  });

  test('a key for v1.signer.node0 (the .node0-era contract id) fails ReceiverMismatch', async () => {
    const ak = await providerOf(twin).viewAccessKey({
      accountId: twin.nodes[1]!.accountId,
      publicKey: twin.scenario.nodeList[1]!.account.chain!.publicKey,
    });
    expect(ak.permission).toMatchObject({ FunctionCall: { receiver_id: 'v1.signer.node0', allowance: null } });
    await onlyNodeFails(
      twin,
      1,
      'InvalidAccessKeyError(ReceiverMismatch { tx_receiver: v1.signer.localnet, ak_receiver: v1.signer.node0 })',
    );
  });
});

describe('fc-key-allowance-exhausted', () => {
  const started = useTwin('fc-key-allowance-exhausted', { blockTimeMs: BLOCK_MS });
  let twin: Twin;
  beforeAll(() => {
    twin = started();
  });

  test('node 2 fails NotEnoughAllowance (0.02 NEAR left, a call costs 0.0302428 NEAR); the others attest', async () => {
    const n = twin.scenario.nodeList[2]!;
    const ak = await providerOf(twin).viewAccessKey({ accountId: n.accountId, publicKey: n.account.chain!.publicKey });
    expect(ak.permission).toMatchObject({
      FunctionCall: { receiver_id: 'v1.signer.localnet', allowance: '20000000000000000000000' },
    });
    await onlyNodeFails(
      twin,
      2,
      `InvalidAccessKeyError(NotEnoughAllowance { account_id: ${n.accountId}, ` +
        `public_key: ${n.account.chain!.publicKey}, ` +
        `allowance: 20000000000000000000000, cost: ${CALL_COST} })`,
    );
    // a rejected transaction spends nothing: the allowance is what it was
    const after = await providerOf(twin).viewAccessKey({
      accountId: n.accountId,
      publicKey: n.account.chain!.publicKey,
    });
    expect(after.permission).toEqual(ak.permission);
  });
});

describe('node-account-broke', () => {
  const started = useTwin('node-account-broke', { blockTimeMs: BLOCK_MS });
  let twin: Twin;
  beforeAll(() => {
    twin = started();
  });

  test('node 0 (the leader) fails NotEnoughBalance; the others attest; keygen never starts', async () => {
    const provider = providerOf(twin);
    expect((await provider.viewAccount({ accountId: 'mpc-node-0.localnet' })).amount).toBe(10n ** 22n);
    expect((await provider.viewAccount({ accountId: 'mpc-node-1.localnet' })).amount).toBeGreaterThan(10n ** 24n);
    await onlyNodeFails(
      twin,
      0,
      `NotEnoughBalance { signer_id: mpc-node-0.localnet, balance: 10000000000000000000000, cost: ${CALL_COST} }`,
    );
    const state = await stateOf(twin);
    expect(state.Initializing.generating_key.instance).toBeNull();
    expect(state.Initializing.generating_key.next_attempt_id).toBe(0);
    expect((await provider.viewAccount({ accountId: 'mpc-node-0.localnet' })).amount).toBe(10n ** 22n);
  });
});
