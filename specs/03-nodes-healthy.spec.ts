/**
 * 03-nodes-healthy — every mpc-node container is up, and each node signs with its on-chain key and answers
 * inside the VPC.
 * Evidence: container state on each instance; one SSM command on the NEAR base curls every node's /health
 * and /public_data; a node it gets no answer from is asked on its own instance (container, /health,
 * /public_data) — answering there but not from the NEAR base is a network finding, never a key repair.
 * Fix-ups: a stopped container is started (docker start mpc-node through SSM, journaled; first, so the
 * node can answer); a node whose keys disagree with the chain gets ${MPC_DATA_DIR:-/data}/secrets.json
 * re-written from Secrets Manager (only the values validated by sha256; backup kept, never printed),
 * docker restart mpc-node, wait for the on-chain keys and /health 200.
 */
import { describe } from 'vitest';
import { defineFixUp } from '../helpers/harness/fix-up.ts';
import { runbookStep } from '../helpers/harness/step.ts';
import { containersUp } from '../helpers/instances/containers.ts';
import { nodeAnswersWithChainKeys } from '../helpers/node-claims.ts';
import { observeKeys } from '../helpers/observe.ts';
import {
  describeNodeRewrites,
  nodesBackWithChainKeys,
  rewriteNodeSecrets,
} from '../helpers/repairs/rematerialise-node-secrets.ts';
import { containersAnswer, describeContainerStarts, startContainers } from '../helpers/repairs/start-container.ts';

const { test, nodes } = await runbookStep('03-nodes-healthy', observeKeys);

const startStoppedContainers = defineFixUp({
  name: 'start the stopped mpc-node containers',
  describe: describeContainerStarts,
  apply: startContainers,
  settle: containersAnswer,
});

const rematerialiseNodeSecrets = defineFixUp({
  name: 're-materialise secrets.json on the nodes',
  describe: describeNodeRewrites,
  apply: rewriteNodeSecrets,
  settle: nodesBackWithChainKeys,
});

describe('03 nodes healthy: every node runs with its on-chain keys and answers inside the VPC', () => {
  // First: a node whose container is stopped can only answer once it runs again.
  test('every mpc-node container is up', ({ claim }) => claim(containersUp, { fixUp: startStoppedContainers }));
  test.for(nodes)('$accountId: /public_data keys are on chain and /health answers 200', (node, { claim }) =>
    claim(nodeAnswersWithChainKeys(node), { fixUp: rematerialiseNodeSecrets, node: node.index }),
  );
});
