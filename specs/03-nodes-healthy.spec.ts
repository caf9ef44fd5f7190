/**
 * 03-nodes-healthy — each node signs with its on-chain key and answers inside the VPC.
 * Evidence: one SSM command on the NEAR base curls every node's /health and /public_data; container
 * state on each instance. Fix-up: through SSM on the instance, re-write ${MPC_DATA_DIR:-/data}/secrets.json
 * from Secrets Manager (only the values validated by sha256; backup kept, never printed), docker restart
 * mpc-node, wait for the on-chain keys and /health 200.
 */
import { describe } from 'vitest';
import { defineFixUp } from '../helpers/harness/fix-up.ts';
import { runbookStep } from '../helpers/harness/step.ts';
import { containersUp } from '../helpers/instances/containers.ts';
import { nodeSignsWithChainKeys } from '../helpers/key-claims.ts';
import { observeKeys } from '../helpers/observe.ts';
import {
  describeNodeRewrites,
  nodesBackWithChainKeys,
  rewriteNodeSecrets,
} from '../helpers/repairs/rematerialise-node-secrets.ts';

const { test, nodes } = await runbookStep('03-nodes-healthy', observeKeys);

const rematerialiseNodeSecrets = defineFixUp({
  name: 're-materialise secrets.json on the nodes',
  describe: describeNodeRewrites,
  apply: rewriteNodeSecrets,
  settle: nodesBackWithChainKeys,
});

describe('03 nodes healthy: every node runs with its on-chain keys and answers inside the VPC', () => {
  test.for(nodes)('$accountId: /public_data keys are on chain and /health answers 200', (node, { claim }) =>
    claim(nodeSignsWithChainKeys(node), { fixUp: rematerialiseNodeSecrets, node: node.index }),
  );
  test('every mpc-node container is up', ({ claim }) => claim(containersUp));
});
