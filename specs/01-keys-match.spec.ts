/**
 * 01-keys-match — every node key agrees in the four places: chain · Secrets Manager · manifest · the node.
 * Evidence: per node, the on-chain access keys (+ permission), the key the Secrets Manager value
 * derives, the manifest's, the node's own /public_data; the p2p key against the participant sign_pk.
 * Fix-up: none — in fix mode the claim is that every disagreement has a safe repair (no write happens
 * in this run otherwise).
 */
import { describe } from 'vitest';
import { byMode, titleFor } from '../helpers/harness/mode.ts';
import { runbookStep } from '../helpers/harness/step.ts';
import { keysAgree, keysRepairable } from '../helpers/key-claims.ts';
import { observeKeys } from '../helpers/observe.ts';

const { test, nodes } = await runbookStep('01-keys-match', observeKeys);

describe('01 keys match: every node key agrees on chain, in Secrets Manager, in the manifest and on the node', () => {
  test.for(nodes)(
    titleFor({
      observe: '$accountId: account key and p2p key agree in all four places',
      fix: '$accountId: every disagreement of its keys has a safe repair',
    }),
    (node, { claim }) => claim(byMode({ observe: keysAgree(node), fix: keysRepairable(node) })),
  );
});
