/**
 * The claim of step 03 over the evidence of the four places (pure): the node runs with its on-chain
 * keys and answers inside the VPC — seen from two vantage points. What the NEAR base cannot read is
 * asked on the node's own instance: the keys are judged from there, and a node that answers there but
 * not from the NEAR base is red here as a network finding (never a key repair or a restart).
 */
import type { DiscoveredNode } from './aws/cloudformation.ts';
import type { Finding } from './evidence.ts';
import { explain } from './explain.ts';
import type { Problem, Verdict } from './harness/claim.ts';
import { baseProbeSaid } from './instances/own-instance.ts';
import type { KeyEvidence } from './observe.ts';

/** 03: the node reports (/public_data) keys that are on chain and answers /health 200 from the NEAR base. */
export const nodeAnswersWithChainKeys =
  (node: DiscoveredNode) =>
  (ev: KeyEvidence): Verdict => {
    const n = ev.nodes.find((x) => x.index === node.index);
    if (!n) throw new Error(`${node.accountId}: no evidence was collected for this node`);
    const self = n.node;
    // Errors about the node, and the network finding (a warning for the keys, read on the instance).
    const found: Finding[] = ev.findings.filter(
      (f) => f.node === node.index && f.place === 'node' && (f.severity === 'error' || f.code === 'node-unreachable'),
    );
    const where =
      self.from === 'instance'
        ? `read on its own instance; from the NEAR base: ${baseProbeSaid(self.baseProbe)}`
        : 'read from the NEAR base';
    const health = self.reachable ? `health ${self.healthy ? '200' : 'not 200'}` : 'unreachable';
    const container = self.container
      ? `; container ${self.container.state}, started ${self.container.startedAt} (${self.container.restarts} restarts)`
      : '';
    const unhealthy: Problem[] =
      self.reachable && !self.healthy && self.from !== 'instance'
        ? [{ message: `${node.accountId}: /health from the NEAR base is not 200` }]
        : [];
    return {
      evidence:
        `node reports signer ${self.signerPublicKey ?? '—'}, p2p ${self.p2pPublicKey ?? '—'}, ${health} ` +
        `(${where})${container}`,
      problems: [...found, ...unhealthy],
      summary: found.length ? `${node.accountId}:\n${explain(found)}` : unhealthy.map((p) => p.message).join('\n'),
    };
  };
