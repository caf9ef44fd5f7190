/**
 * 00-preflight — the runbook can see the whole Layer 3.
 * Evidence: stack outputs, RPC status (chain id, height advancing, not syncing), contract code hash +
 * version(), caller identity, SSM PingStatus, manifest self-consistency. Fix-up: none.
 */
import { describe } from 'vitest';
import { byMode, titleFor } from '../helpers/harness/mode.ts';
import { runbookStep } from '../helpers/harness/step.ts';
import {
  awsIdentityExpected,
  contractDeployed,
  deploymentDiscovered,
  holdsFixLock,
  instancesOnline,
  manifestOnChain,
  manifestUsable,
  manifestUsableForFix,
  nearRpcAnswers,
  targetNamed,
} from '../helpers/preflight.ts';

const { test } = await runbookStep('00-preflight');

describe('00 preflight: the runbook can see the whole Layer 3', () => {
  test('the run names its target, and a run that writes was pointed at it explicitly', ({ claim }) =>
    claim(targetNamed));
  test('no other fix run holds the fix lock (one fix at a time, across machines)', ({ claim }) => claim(holdsFixLock));
  test('the deployment is discovered from its CloudFormation outputs', ({ claim }) => claim(deploymentDiscovered));
  test('AWS credentials belong to the expected account and region', ({ claim }) => claim(awsIdentityExpected));
  test('every instance is online in SSM', ({ claim }) => claim(instancesOnline));
  test('the NEAR RPC answers: the expected chain, synced, blocks advancing', ({ claim }) => claim(nearRpcAnswers));
  test('the MPC contract is deployed and answers version()', ({ claim }) => claim(contractDeployed));
  test(
    titleFor({
      observe: 'the keys manifest parses and is self-consistent',
      fix: 'the keys manifest parses, is self-consistent and holds the secret keys fix restores',
    }),
    ({ claim }) => claim(byMode({ observe: manifestUsable, fix: manifestUsableForFix })),
  );
  test('the keys manifest belongs to this deployment: its keys are on chain', ({ claim }) => claim(manifestOnChain));
});
