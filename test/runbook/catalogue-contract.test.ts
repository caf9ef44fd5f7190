/**
 * The failure-mode catalogue, contract account (issue 14): deployed but never initialised, no code (or
 * another contract's), Running without a domain. Each is named with its evidence and the manual remedy;
 * none has an automatic repair, so plan and fix write nothing — counted on one twin per scenario.
 */
import { describe, expect, test } from 'vitest';
import { OTHER_CONTRACT_CODE_HASH } from '../../twin/contract/other-contract.ts';
import { loadScenario } from '../../twin/scenario.ts';
import { useTwin } from '../twin-fixture.ts';
import { catalogueTests, expectVerdict } from './catalogue-support.ts';
import { runbook, workspace } from './runbook-runs.ts';

const DEPLOYED = '4SKLfbnrk2BL8zKTVxLybwXLq8TMLgaCbBaJ9JHfdCCU';
const OLDER = 'AwGsqzBktLoUvdnUsNVrP8hFea3SywdRYHzmPead4Jts';
const SKIPPED_AFTER_00 = /01-keys-match +skipped \(skipped: 00-preflight failed earlier in this run \(1 claim red\)\)/;

describe('contract-not-initialised', () => {
  const started = useTwin('contract-not-initialised');
  catalogueTests(started, {
    known: 'contract-not-initialised',
    gateSays: [
      /00-preflight +9 passed, 1 failed/,
      SKIPPED_AFTER_00,
      `v1.signer.localnet holds the MPC contract 3.0.2 (the deployed one, infra/aws-cdk/mpc-contract.wasm) but was ` +
        'never initialised: every view that reads its state panics "Calling default not allowed."',
    ],
    remedy:
      /initialise it: init \{"parameters": \{"participants": …, "threshold": …\}\} signed by the contract account/,
    fix: 'refuses',
  });
});

describe('contract-missing', () => {
  const started = useTwin('contract-missing');
  catalogueTests(started, {
    known: 'contract-missing',
    gateSays: [
      /00-preflight +9 passed, 1 failed/,
      SKIPPED_AFTER_00,
      'v1.signer.localnet exists but holds no contract code (code_hash 11111111111111111111111111111111; ' +
        `the MPC contract would be one of ${DEPLOYED} = 3.0.2, ${OLDER} = 2.2.0): its views fail CodeDoesNotExist`,
    ],
    remedy: 'deploy the MPC contract 3.0.2 (infra/aws-cdk/mpc-contract.wasm; the 1.2 MB wasm needs 50–60 NEAR',
    fix: 'refuses',
  });
});

describe('contract-missing, knob deployment.contract "other-code"', () => {
  const base = loadScenario('contract-missing');
  const started = useTwin('contract-missing', {
    scenario: { ...base, name: 'contract-other-code', deployment: { contract: 'other-code', nodes: {} } },
  });
  test('gate names the unknown code hash against the known ones', async () => {
    const r = await runbook(started(), 'gate', workspace());
    expectVerdict(r, { code: 1, known: 'contract-missing' });
    expect(r.output).toContain(
      `v1.signer.localnet holds code_hash ${OTHER_CONTRACT_CODE_HASH}, which is no MPC contract the runbook knows ` +
        `(${DEPLOYED} = 3.0.2, ${OLDER} = 2.2.0): it has no version() method (MethodNotFound)`,
    );
  });
});

describe('no-domain', () => {
  const started = useTwin('no-domain');
  catalogueTests(started, {
    known: 'no-domain',
    gateSays: [
      /00-preflight +10 passed, 0 failed/,
      /03-nodes-healthy +\d+ passed, 0 failed/,
      /04-contract-running +\d+ passed, 2 failed/,
      'v1.signer is Running with no domain keys (no domain was ever voted in)',
      'panic_msg: "No such domain."',
      'v1.signer.localnet is Running with no domain: the participants never voted vote_add_domains',
    ],
    remedy: 'every participant must sign vote_add_domains {"domains":[{"id":0,"scheme":"Secp256k1"}]}',
    fix: 'refuses',
    // No domain vote is under way: fix does not wait RUNBOOK_RUNNING_TIMEOUT_S for a Running that cannot come.
    fixSays: ['nothing to wait for'],
  });
});
