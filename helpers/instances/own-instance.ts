/**
 * The second vantage point: a node as its own instance sees it (through SSM), asked only for the nodes
 * the NEAR base got no answer from — so a healthy gate costs nothing more. A node that answers on its
 * own instance but not from the NEAR base is a network finding (security group, source address); one
 * whose container is stopped gets the container started; neither is a key repair.
 */
import type { DiscoveredNode } from '../aws/cloudformation.ts';
import { pingStatus, runOn } from '../aws/ssm.ts';
import type { NodeSelfReport } from '../evidence.ts';
import type { RunbookContext } from '../harness/context.ts';
import type { PublicDataLine } from './node-reports.ts';
import { type OwnPublicData, ownPublicDataScript, parseOwnPublicData } from './own-reports.ts';

/** /health, /public_data and the container of each node, asked on its own instance (one SSM command). */
export async function ownInstanceReports(
  ctx: RunbookContext,
  nodes: DiscoveredNode[],
): Promise<Map<number, OwnPublicData>> {
  const out = new Map<number, OwnPublicData>();
  if (!nodes.length) return out;
  // An instance whose SSM agent is not connected would only make the command wait for its delivery timeout.
  const ping = await pingStatus(
    ctx.ssm,
    nodes.map((n) => n.instanceId),
  ).catch(() => undefined);
  const online = nodes.filter((n) => !ping || ping.get(n.instanceId) === 'Online');
  if (!online.length) return out;
  const script = ownPublicDataScript(nodes.map((n) => ({ index: n.index, instanceId: n.instanceId, ip: n.privateIp })));
  const res = await runOn(
    ctx.ssm,
    online.map((n) => n.instanceId),
    script,
    { timeoutS: ctx.config.RUNBOOK_SSM_TIMEOUT_S, comment: 'mpc-runbook: node /health on its own instance' },
  );
  for (const n of nodes) {
    const own = parseOwnPublicData(res.get(n.instanceId)?.stdout ?? '');
    if (own) out.set(n.index, own);
  }
  return out;
}

/** The nodes whose /public_data the NEAR base could not read. */
export const unansweredFromBase = (nodes: DiscoveredNode[], base: Map<number, PublicDataLine>) =>
  nodes.filter((n) => !base.get(n.index)?.signer);

/** How the NEAR base's probe ended, in words (curl's exit code). */
export function baseProbeSaid(p: NodeSelfReport['baseProbe']): string {
  if (!p) return 'no answer';
  if (p.curlExit === 28) return 'connection timed out (curl exit 28: the packets are dropped)';
  if (p.curlExit === 7) return 'connection refused (curl exit 7: nothing listens on :8080)';
  if (p.curlExit !== undefined && p.curlExit !== 0) return `curl exit ${p.curlExit}`;
  return `HTTP ${p.httpCode}`;
}

/** One node's self-report: from the NEAR base when it answered, else from its own instance (if asked). */
export function selfReportOf(base: PublicDataLine | undefined, own: OwnPublicData | undefined): NodeSelfReport {
  if (base?.signer) {
    return {
      reachable: true,
      healthy: base.health === '200',
      signerPublicKey: base.signer,
      ...(base.p2p ? { p2pPublicKey: base.p2p } : {}),
    };
  }
  const baseProbe = base
    ? { httpCode: base.health, ...(base.curlExit !== undefined ? { curlExit: base.curlExit } : {}) }
    : undefined;
  const seen = {
    ...(baseProbe ? { baseProbe } : {}),
    ...(own ? { container: own.container } : {}),
  };
  const error = baseProbe ? baseProbeSaid(baseProbe) : 'no answer';
  if (!own?.signer) return { reachable: false, error, ...seen };
  return {
    reachable: true,
    from: 'instance',
    healthy: own.ownHealth === '200',
    signerPublicKey: own.signer,
    ...(own.p2p ? { p2pPublicKey: own.p2p } : {}),
    error,
    ...seen,
  };
}
