/**
 * 05-parity-views — the contract derives keys as we do.
 * Evidence: derived_public_key vs our own derivation (@noble) and its EVM address; default
 * test.localnet / ethereum-test, more with RUNBOOK_PARITY_CASES. Fix-up: none.
 */
import { describe } from 'vitest';
import { runbookStep } from '../helpers/harness/step.ts';
import { derivesAsWeDo, parityCases, rootKeyOnCurve } from '../helpers/parity.ts';

const { test, config } = await runbookStep('05-parity-views');

describe('05 parity views: the contract derives keys exactly as we do', () => {
  test('the root key public_key({domain_id: 0}) is a point on secp256k1', ({ claim }) => claim(rootKeyOnCurve));
  test.for(parityCases(config))(
    'derived_public_key for $predecessor / $path equals root + tweak·G, and so does its EVM address',
    (parity, { claim }) => claim(derivesAsWeDo(parity)),
  );
});
