/**
 * The failure-mode catalogue, node accounts and their keys on chain (issue 14): a FunctionCall key without
 * the node's methods (or for another receiver), one whose allowance is below a node call, an account too poor
 * to pay its gas. Each is named at 01 with the node, the key and the amounts; the chain is not the runbook's
 * to change, so fix stops at 01 with zero writes and says what to do by hand.
 */
import { describe, expect, test } from 'vitest';
import { loadScenario } from '../../twin/scenario.ts';
import { useTwin } from '../twin-fixture.ts';
import { catalogueTests, expectVerdict } from './catalogue-support.ts';
import { runbook, workspace } from './runbook-runs.ts';

const COST = 'one node call costs at least 0.0302428 NEAR (30242800000000000000000 yocto: 302.428 Tgas at gas price';
const CHAIN_REFUSES = (i: number) => `mpc-node-${i}.localnet: the chain refuses the transactions the node sends:`;
const ONLY_01 = [
  /00-preflight +10 passed, 0 failed/,
  /01-keys-match +3 passed, 1 failed/,
  /02-secrets-restored +4 passed/,
];

describe('fc-key-wrong-methods', () => {
  const started = useTwin('fc-key-wrong-methods');
  catalogueTests(started, {
    known: 'fc-key-wrong-methods',
    gateSays: [
      ...ONLY_01,
      CHAIN_REFUSES(1),
      /mpc-node-1\.localnet: access key ed25519:\S+ is a FunctionCall key for v1\.signer\.localnet whose/,
      "lack respond_ckd, verify_tee, submit_participant_info: the node's calls of those fail " +
        'InvalidAccessKeyError(MethodNameMismatch) — submit_participant_info first: it never attests',
    ],
    remedy: /DeleteKey ed25519:\S+, then AddKey the same public key as FullAccess .* signed with a FullAccess key/,
    fix: 'refuses',
  });
});

describe('fc-key-wrong-methods, knob functionCallKey.receiverId', () => {
  const base = loadScenario('fc-key-wrong-methods');
  const started = useTwin('fc-key-wrong-methods', {
    scenario: {
      ...base,
      name: 'fc-key-wrong-receiver',
      deployment: { contract: 'initialised', nodes: { '1': { functionCallKey: { receiverId: 'v1.signer.node0' } } } },
    },
  });
  test('gate names the receiver the key is for, against the contract', async () => {
    const r = await runbook(started(), 'gate', workspace());
    expectVerdict(r, { code: 1, known: 'fc-key-wrong-methods' });
    expect(r.output).toMatch(
      /mpc-node-1\.localnet: access key ed25519:\S+ is a FunctionCall key for v1\.signer\.node0, /,
    );
    expect(r.output).toContain(
      'not v1.signer.localnet: every transaction the node sends fails InvalidAccessKeyError(ReceiverMismatch)',
    );
  });
});

describe('fc-key-allowance-exhausted', () => {
  const started = useTwin('fc-key-allowance-exhausted');
  catalogueTests(started, {
    known: 'fc-key-allowance-exhausted',
    gateSays: [
      ...ONLY_01,
      CHAIN_REFUSES(2),
      /mpc-node-2\.localnet: access key ed25519:\S+ has 0\.02 NEAR \(20000000000000000000000 yocto\) of allowance left/,
      `less than ${COST} 100000000 yocto): every transaction the node sends fails ` +
        'InvalidAccessKeyError(NotEnoughAllowance)',
    ],
    remedy: 'then AddKey the same public key with a larger allowance (or none: allowance null is unlimited)',
    fix: 'refuses',
  });
});

describe('node-account-broke', () => {
  const started = useTwin('node-account-broke');
  catalogueTests(started, {
    known: 'node-account-broke',
    gateSays: [
      ...ONLY_01,
      CHAIN_REFUSES(0),
      'mpc-node-0.localnet: the account holds 0.01 NEAR (10000000000000000000000 yocto), less than ' +
        `${COST} 100000000 yocto): every transaction the node sends fails NotEnoughBalance`,
    ],
    remedy: 'the runbook never moves funds: send mpc-node-0.localnet NEAR from the account that funds the nodes',
    fix: 'refuses',
  });
});
