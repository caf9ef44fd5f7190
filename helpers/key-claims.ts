/**
 * The claims of steps 01–03 over the evidence of the four places (pure): every node key agrees, or
 * can be repaired safely; Secrets Manager holds keys that are on chain; the node signs with them.
 */
import type { DiscoveredNode } from './aws/cloudformation.ts';
import { errors } from './diagnosis.ts';
import type { Finding, NodeEvidence, Place } from './evidence.ts';
import { evidenceTable, explain } from './explain.ts';
import type { Verdict } from './harness/claim.ts';
import type { KeyEvidence } from './observe.ts';

const evidenceOf = (ev: KeyEvidence, node: DiscoveredNode): NodeEvidence => {
  const found = ev.nodes.find((n) => n.index === node.index);
  if (!found) throw new Error(`${node.accountId}: no evidence was collected for this node`);
  return found;
};
const findingsOf = (ev: KeyEvidence, node: DiscoveredNode, place?: Place): Finding[] =>
  ev.findings.filter((f) => f.node === node.index && (!place || f.place === place));
const warningsOf = (ev: KeyEvidence, node: DiscoveredNode) =>
  findingsOf(ev, node)
    .filter((f) => f.severity === 'warning')
    .map((f) => f.message);

/** Findings where the chain itself refuses what the node sends (its key's permission or allowance, its funds). */
const CHAIN_STOPS: Finding['code'][] = ['access-key-permission', 'access-key-allowance', 'account-balance'];
const chainOnly = (problems: Finding[]) => problems.every((p) => p.place === 'chain' && CHAIN_STOPS.includes(p.code));

/** What a node's problems amount to: its places disagree, or the chain alone stops its transactions. */
const headline = (node: DiscoveredNode, problems: Finding[]) =>
  chainOnly(problems)
    ? `${node.accountId}: the chain refuses the transactions the node sends:`
    : `${node.accountId} disagrees with the chain:`;
const refusedHeadline = (node: DiscoveredNode, refused: Finding[]) =>
  chainOnly(refused)
    ? `${node.accountId}: the chain refuses the transactions the node sends, and the runbook never changes the chain:`
    : `${node.accountId}: disagreements the manifest cannot settle:`;

/** 01 (gate, plan): the account key and the p2p key agree in all four places. */
export const keysAgree =
  (node: DiscoveredNode) =>
  (ev: KeyEvidence): Verdict => {
    const problems = errors(findingsOf(ev, node));
    return {
      evidence: evidenceTable(evidenceOf(ev, node), { manifestGiven: ev.manifest.given }),
      warnings: warningsOf(ev, node),
      problems,
      summary: `${headline(node, problems)}\n${explain(problems)}`,
    };
  };

/** 01 (fix): every disagreement has a safe repair — the condition for any write in this run. */
export const keysRepairable =
  (node: DiscoveredNode) =>
  (ev: KeyEvidence): Verdict => {
    const refused = errors(findingsOf(ev, node)).filter((f) => !f.repair);
    return {
      evidence: evidenceTable(evidenceOf(ev, node), { manifestGiven: ev.manifest.given }),
      warnings: warningsOf(ev, node),
      problems: refused,
      summary: `${refusedHeadline(node, refused)}\n${explain(refused)}`,
    };
  };

/** 02: mpc_account_sk derives an access key of the account, mpc_p2p_private_key its participant sign_pk. */
export const secretsOnChain =
  (node: DiscoveredNode) =>
  (ev: KeyEvidence): Verdict => {
    const { account, p2p } = evidenceOf(ev, node).secretsManager;
    const problems = errors(findingsOf(ev, node, 'secretsManager'));
    return {
      evidence:
        `account secret: ${account.shape} ${account.publicKey ?? ''}; ` +
        `p2p secret: ${p2p.shape} ${p2p.publicKey ?? ''}`,
      problems,
      summary: `${node.accountId}: Secrets Manager disagrees with the chain:\n${explain(problems)}`,
    };
  };

/** 03: the node reports (/public_data) keys that are on chain and answers /health 200 inside the VPC. */
export const nodeSignsWithChainKeys =
  (node: DiscoveredNode) =>
  (ev: KeyEvidence): Verdict => {
    const self = evidenceOf(ev, node).node;
    const found = errors(findingsOf(ev, node, 'node'));
    const health = self.reachable ? `health ${self.healthy ? '200' : 'not 200'}` : 'unreachable';
    const unhealthy =
      self.reachable && !self.healthy ? [{ message: `${node.accountId}: /health from the NEAR base is not 200` }] : [];
    return {
      evidence: `node reports signer ${self.signerPublicKey ?? '—'}, p2p ${self.p2pPublicKey ?? '—'}, ${health}`,
      problems: [...found, ...unhealthy],
      summary: found.length ? `${node.accountId}:\n${explain(found)}` : unhealthy.map((p) => p.message).join('\n'),
    };
  };
