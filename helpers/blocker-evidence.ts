/**
 * What step 04 gathers when the contract is not Running (never when it is, so a healthy gate stays as
 * cheap as before), in batches: from the NEAR RPC the participants, each one's attestation
 * (get_attestation, get_tee_accounts), the key event window (config) and the head; from every node at
 * once through SSM, one command per kind — its container, config.yaml ports, own /health, /metrics and
 * log since the container started; and a TCP connect from the node itself to its peers' P2P ports (every
 * peer up to nine participants, the next eight beyond: own-reports.ts reachPlan).
 * Judged by blockers.ts.
 */
import pMap from 'p-map';
import { runOn } from './aws/ssm.ts';
import type { RunbookContext } from './harness/context.ts';
import { participantsOf, type ContractState } from './near/contract-state.ts';
import {
  type NodeState,
  nodeStateScript,
  type Probe,
  p2pProbeScript,
  parseNodeState,
  parseProbes,
  type ProbeTarget,
  reachPlan,
} from './instances/own-reports.ts';
import { redactor } from './redact.ts';

export interface ParticipantView {
  accountId: string;
  id: number;
  url: string;
  signPk: string;
}

export interface TeeAccount {
  account_id: string;
  tls_public_key: string;
  account_public_key?: string | null;
}

export interface NodeView {
  index: number;
  accountId: string;
  instanceId: string;
  privateIp: string;
  state?: NodeState;
  probes: Probe[];
  /** The participants (ids) this node was asked to reach (its own port included). */
  reachPlanned?: string[];
  /** Why the instance gave no report (SSM outcome), when it gave none. */
  unanswered?: string;
}

export interface BlockerEvidence {
  /** The RPC head, read just before the nodes were asked (so a node's lag is never overstated). */
  head: number;
  /** The RPC head once every node had answered. */
  headAfter?: number;
  keyEventTimeoutBlocks?: number;
  participants: ParticipantView[];
  /** get_attestation per participant sign_pk (null: none on chain); a sign_pk missing here was not read. */
  attestations: Record<string, unknown>;
  teeAccounts?: TeeAccount[];
  nodes: NodeView[];
  /** The port tested as the remedy for a P2P port collision (from every node to itself and its next peer). */
  sparePort: number;
  /** What could not be read, in words. */
  unread: string[];
}

/** A conventional MPC P2P port (near/mpc's own localnet setup uses 3000 + i): tested as a remedy. */
const SPARE_PORTS = [3000, 3001, 3002];

export function meshAddress(url: string, portOverride?: number): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: portOverride ?? (u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80) };
}

async function fromChain(ctx: RunbookContext, participants: ParticipantView[], unread: string[]) {
  const said = (what: string) => (e: Error) => {
    unread.push(`${what}: ${redactor.redactError(e).message.split('\n')[0]}`);
    return undefined;
  };
  const [config, tee, attestations] = await Promise.all([
    ctx.near.contractView<{ key_event_timeout_blocks?: number }>('config').catch(said('config()')),
    ctx.near.contractView<TeeAccount[]>('get_tee_accounts').catch(said('get_tee_accounts()')),
    pMap(
      participants,
      (p) =>
        ctx.near
          .contractView<unknown>('get_attestation', { tls_public_key: p.signPk })
          .then((a) => [p.signPk, a ?? null] as const)
          .catch(said(`get_attestation(${p.signPk})`)),
      { concurrency: 8 },
    ),
  ]);
  return {
    ...(typeof config?.key_event_timeout_blocks === 'number'
      ? { keyEventTimeoutBlocks: config.key_event_timeout_blocks }
      : {}),
    ...(Array.isArray(tee) ? { teeAccounts: tee } : {}),
    attestations: Object.fromEntries(attestations.filter((a) => a !== undefined)),
  };
}

/** Everything step 04 needs to name what keeps the contract from Running. */
export async function gatherBlockerEvidence(ctx: RunbookContext, state: ContractState): Promise<BlockerEvidence> {
  const participants = participantsOf(state).map(([accountId, id, info]) => ({
    accountId,
    id,
    url: info.url,
    signPk: info.sign_pk,
  }));
  const unread: string[] = [];
  const chain = await fromChain(ctx, participants, unread);
  const head = (await ctx.near.status()).sync_info.latest_block_height;
  const deployed = ctx.deployment.nodes;
  const nodes = deployed.map((n) => ({ index: n.index, instanceId: n.instanceId, ip: n.privateIp }));
  const targets: ProbeTarget[] = participants.flatMap((p) => {
    try {
      return [{ to: String(p.id), ...meshAddress(p.url) }];
    } catch {
      unread.push(`participant ${p.id} (${p.accountId}): url ${p.url} is not a URL`);
      return [];
    }
  });
  const taken = new Set(targets.map((t) => t.port));
  const sparePort = SPARE_PORTS.find((p) => !taken.has(p)) ?? 3003;
  const ids = deployed.map((n) => n.instanceId);
  const timeoutS = ctx.config.RUNBOOK_SSM_TIMEOUT_S;
  const plan = reachPlan(deployed, participants);
  const [states, probes] = await Promise.all([
    runOn(ctx.ssm, ids, nodeStateScript(nodes), { timeoutS, comment: 'mpc-runbook: node state, metrics and log' }),
    runOn(ctx.ssm, ids, p2pProbeScript(nodes, targets, sparePort, plan), {
      timeoutS,
      comment: 'mpc-runbook: P2P reach',
    }),
  ]);
  const headAfter = await ctx.near
    .status()
    .then((st) => st.sync_info.latest_block_height)
    .catch(() => undefined);
  const views: NodeView[] = deployed.map((n) => {
    const r = states.get(n.instanceId);
    const state = parseNodeState(r?.stdout ?? '');
    const why = r ? `${r.status}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n')[0]}` : ''}` : 'no result from SSM';
    return {
      index: n.index,
      accountId: n.accountId,
      instanceId: n.instanceId,
      privateIp: n.privateIp,
      ...(state ? { state } : { unanswered: why }),
      probes: parseProbes(probes.get(n.instanceId)?.stdout ?? ''),
      reachPlanned: plan.get(n.index) ?? [],
    };
  });
  return {
    head,
    ...(headAfter !== undefined ? { headAfter } : {}),
    ...chain,
    participants,
    nodes: views,
    sparePort,
    unread,
  };
}
