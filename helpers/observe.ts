/**
 * Observing the four places a node key lives, for every node at once (one call per kind of
 * evidence): the chain (access keys, participant sign_pk), Secrets Manager, the manifest, and the
 * node itself as the NEAR base sees it inside the VPC. Public keys only; judged by diagnosis.ts.
 */
import { readSecrets } from './aws/secrets-manager.ts';
import { runOn } from './aws/ssm.ts';
import type { DiscoveredNode } from './aws/cloudformation.ts';
import { diagnose } from './diagnosis.ts';
import type { Finding, NodeEvidence, NodeSelfReport, OnChainKey } from './evidence.ts';
import type { RunbookContext } from './harness/context.ts';
import { nodePublicDataScript, parsePublicData } from './instances/node-reports.ts';
import type { Manifest } from './manifest.ts';
import { type ContractState, participantsOf } from './near/contract-state.ts';
import { observeKeySecret, type RawSecret, secretNames } from './node-secrets.ts';

type PublicDataLine = ReturnType<typeof parsePublicData> extends Map<number, infer L> ? L : never;

/** What the four places say about every node, and what diagnosis concluded from it. */
export interface KeyEvidence {
  state: ContractState;
  nodes: NodeEvidence[];
  findings: Finding[];
}

/** /health and /public_data of every node, asked from inside the VPC (the NEAR base) in one SSM command. */
export async function nodeSelfReports(ctx: RunbookContext): Promise<Map<number, PublicDataLine>> {
  const base = ctx.deployment.nearBase;
  if (!base) {
    const where = `stack ${ctx.config.NEAR_STACK_NAME}`;
    throw new Error(`the NEAR base instance was not found in ${where} (needed to reach the nodes inside the VPC)`);
  }
  const script = nodePublicDataScript(ctx.deployment.nodes.map((n) => ({ index: n.index, ip: n.privateIp })));
  const results = await runOn(ctx.ssm, [base.instanceId], script, {
    timeoutS: ctx.config.RUNBOOK_SSM_TIMEOUT_S,
    comment: 'mpc-runbook: node /health and /public_data',
  });
  const r = results.get(base.instanceId);
  if (r?.status !== 'Success') {
    throw new Error(`asking the nodes from the NEAR base failed: ${r?.status ?? 'no result'} ${r?.stderr ?? ''}`);
  }
  return parsePublicData(r.stdout);
}

function selfReport(line: PublicDataLine | undefined): NodeSelfReport {
  if (!line?.signer) return { reachable: false, error: line ? `HTTP ${line.health}` : 'no answer' };
  return {
    reachable: true,
    healthy: line.health === '200',
    signerPublicKey: line.signer,
    ...(line.p2p ? { p2pPublicKey: line.p2p } : {}),
  };
}

function manifestPlace(manifest: Manifest | undefined, index: number): Pick<NodeEvidence, 'manifest'> {
  const m = manifest?.nodes.find((x) => x.index === index);
  if (!m) return {};
  const { nodeKey, declaredAccountId: accountId, accountPublicKey, p2pPublicKey } = m;
  return { manifest: { nodeKey, accountId, accountPublicKey, p2pPublicKey, problems: [] } };
}

interface Observed {
  keys: Map<string, OnChainKey[] | undefined>;
  state: ContractState;
  secrets: Map<string, RawSecret>;
  reports: Map<number, PublicDataLine>;
}

function nodeEvidence(n: DiscoveredNode, seen: Observed, manifest: Manifest | undefined): NodeEvidence {
  const accessKeys = seen.keys.get(n.accountId);
  const participant = participantsOf(seen.state).find((p) => p[0] === n.accountId);
  const names = secretNames(n.index);
  const where = (field: string) => ({ node: n.accountId, field });
  return {
    index: n.index,
    accountId: n.accountId,
    instanceId: n.instanceId,
    privateIp: n.privateIp,
    chain: {
      accountExists: accessKeys !== undefined && accessKeys.length > 0,
      accessKeys: accessKeys ?? [],
      ...(participant ? { participantSignPk: participant[2].sign_pk } : {}),
    },
    secretsManager: {
      account: observeKeySecret(seen.secrets.get(names.account)!, where(names.account)),
      p2p: observeKeySecret(seen.secrets.get(names.p2p)!, where(names.p2p)),
    },
    ...manifestPlace(manifest, n.index),
    node: selfReport(seen.reports.get(n.index)),
  };
}

/** The four places, observed now. */
export async function observeKeys(ctx: RunbookContext): Promise<KeyEvidence> {
  const { deployment } = ctx;
  const accounts = deployment.nodes.map((n) => n.accountId);
  const names = deployment.nodes.flatMap((n) => [secretNames(n.index).account, secretNames(n.index).p2p]);
  const [keys, state, secrets, reports] = await Promise.all([
    ctx.near.onChainKeys(accounts),
    ctx.near.contractState(),
    readSecrets(ctx.sm, names),
    nodeSelfReports(ctx),
  ]);
  const nodes = deployment.nodes.map((n) => nodeEvidence(n, { keys, state, secrets, reports }, ctx.manifest));
  return { state, nodes, findings: diagnose(nodes, { contractId: ctx.config.MPC_CONTRACT_ID }) };
}
