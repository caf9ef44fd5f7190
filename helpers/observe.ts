/**
 * Observing the four places a node key lives, for every node at once (one call per kind of
 * evidence): the chain (access keys, balances, participant sign_pk), Secrets Manager, the manifest, and the
 * node itself as the NEAR base sees it inside the VPC. Public keys only; judged by diagnosis.ts.
 */
import pMap from 'p-map';
import { readSecrets } from './aws/secrets-manager.ts';
import { runOn } from './aws/ssm.ts';
import type { DiscoveredNode } from './aws/cloudformation.ts';
import { diagnose } from './diagnosis.ts';
import type { Finding, NodeEvidence, OnChainKey } from './evidence.ts';
import type { RunbookContext } from './harness/context.ts';
import { containerReports } from './instances/containers.ts';
import { missingFromProbe, nodePublicDataScript, parsePublicData } from './instances/node-reports.ts';
import { ownInstanceReports, selfReportOf, unansweredFromBase } from './instances/own-instance.ts';
import type { AnyManifest } from './manifest.ts';
import { type ChainNodeKeys, chooseManifestKeys, type KeysChoice } from './manifest-candidates.ts';
import { sharesObservations } from './harness/mode.ts';
import { oncePerRun, runCovers } from './harness/run-state.ts';
import { type ContractState, participantsOf } from './near/contract-state.ts';
import { observeKeySecret, type RawSecret, secretNames } from './node-secrets.ts';

type PublicDataLine = ReturnType<typeof parsePublicData> extends Map<number, infer L> ? L : never;

/** The manifest's side, public keys only: candidates given, the one each node uses, refusals. */
export interface ManifestSide {
  given: boolean;
  publicOnly: boolean;
  candidates: string[];
  /** node index → the candidate whose entry this node uses. */
  sources: Record<number, string>;
  refusals: string[];
  table: string;
}

/** What the four places say about every node, and what diagnosis concluded from it. */
export interface KeyEvidence {
  state: ContractState;
  nodes: NodeEvidence[];
  findings: Finding[];
  manifest: ManifestSide;
}

/** /health and /public_data of every node, asked from inside the VPC (the NEAR base) in one SSM command. */
export async function nodeSelfReports(ctx: RunbookContext): Promise<Map<number, PublicDataLine>> {
  const base = ctx.deployment.nearBase;
  if (!base) {
    const why = ctx.deployment.nearBaseMissing ?? `not in stack ${ctx.config.NEAR_STACK_NAME}`;
    throw new Error(`no NEAR base instance to reach the nodes from inside the VPC: ${why}`);
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
  const lines = parsePublicData(r.stdout);
  const missing = missingFromProbe(ctx.deployment.nodes, lines);
  if (missing.length) {
    const why = r.stderr.trim().split('\n').slice(-3).join(' | ') || 'no error printed';
    throw new Error(
      `the NEAR base's probe printed no line for node ${missing.join(', ')} (curl ≥ 7.75 needed): ${why}`,
    );
  }
  return lines;
}

function manifestPlace(manifest: AnyManifest, index: number): Pick<NodeEvidence, 'manifest'> {
  const m = manifest.nodes.find((x) => x.index === index);
  if (!m) return {};
  const { nodeKey, declaredAccountId: accountId, accountPublicKey, p2pPublicKey } = m;
  return { manifest: { nodeKey, accountId, accountPublicKey, p2pPublicKey, problems: [] } };
}

interface Observed {
  chain: ChainView;
  secrets: Map<string, RawSecret>;
  reports: Map<number, PublicDataLine>;
  /** The nodes the NEAR base got no answer from, as their own instances see them. */
  own: Awaited<ReturnType<typeof ownInstanceReports>>;
}

function nodeEvidence(n: DiscoveredNode, seen: Observed, manifest: AnyManifest): NodeEvidence {
  const accessKeys = seen.chain.keys[n.accountId] ?? undefined;
  const participant = participantsOf(seen.chain.state!).find((p) => p[0] === n.accountId);
  const balance = seen.chain.balances[n.accountId];
  const names = secretNames(n.index);
  return {
    index: n.index,
    accountId: n.accountId,
    instanceId: n.instanceId,
    privateIp: n.privateIp,
    chain: {
      accountExists: accessKeys !== undefined && accessKeys.length > 0,
      accessKeys: accessKeys ?? [],
      ...(participant ? { participantSignPk: participant[2].sign_pk } : {}),
      ...(balance ? { balance } : {}),
    },
    secretsManager: {
      account: observeKeySecret(seen.secrets.get(names.account)!),
      p2p: observeKeySecret(seen.secrets.get(names.p2p)!),
    },
    ...manifestPlace(manifest, n.index),
    node: selfReportOf(seen.reports.get(n.index), seen.own.get(n.index)),
  };
}

/**
 * The chain's side of every node: its access keys (null: no account), its balance, the gas price they are
 * held against, and the contract state (or why it could not be read: not initialised, no code, …).
 */
export interface ChainView {
  keys: Record<string, OnChainKey[] | null>;
  /** Each node account's liquid balance in yoctoNEAR (null: no such account). */
  balances: Record<string, string | null>;
  /** The gas price in yoctoNEAR per gas (a decimal string: the view is kept as JSON). */
  gasPrice: string;
  state?: ContractState;
  stateError?: string;
}

/** Each account's balance, a few view_account calls at a time (there is no batch form of it). */
async function balancesOf(ctx: RunbookContext, accountIds: string[]): Promise<Record<string, string | null>> {
  const balances = await pMap(
    accountIds,
    async (id) => {
      const account = await ctx.near.viewAccount(id).catch((e: Error) => {
        if (/does not exist/.test(e.message)) return null;
        throw e;
      });
      return [id, account ? String(account.amount) : null] as const;
    },
    { concurrency: 8 },
  );
  return Object.fromEntries(balances);
}

/** A contract that answers, but not with a state: the reason is evidence (00 names it), not a failed observation. */
const CONTRACT_ANSWERED = /wasm execution failed|Contract code for contract ID|Contract method is not found|state\(\)/;

async function contractStateOrWhy(ctx: RunbookContext): Promise<Pick<ChainView, 'state' | 'stateError'>> {
  try {
    return { state: await ctx.near.contractState() };
  } catch (e) {
    if (!CONTRACT_ANSWERED.test((e as Error).message)) throw e;
    return { stateError: (e as Error).message };
  }
}

/** The chain's side, once per run in gate and plan (shared by preflight and the steps), afresh in fix. */
export function chainView(ctx: RunbookContext): Promise<ChainView> {
  const observe = async (): Promise<ChainView> => {
    const accounts = ctx.deployment.nodes.map((n) => n.accountId);
    const [keys, balances, gasPrice, state] = await Promise.all([
      ctx.near.onChainKeys(accounts),
      balancesOf(ctx, accounts),
      ctx.near.gasPrice(),
      contractStateOrWhy(ctx),
    ]);
    const keyLists = Object.fromEntries([...keys].map(([a, k]) => [a, k ?? null]));
    return { keys: keyLists, balances, gasPrice: gasPrice.toString(), ...state };
  };
  return oncePerRun('chain.json', observe, sharesObservations());
}

/**
 * The root key, public_key({domain_id: 0}): read once per gate or plan run (04 and 05 judge the same key),
 * afresh in fix. A read that fails is not kept: each claim that asks meets the failure itself.
 */
export const rootKey = (ctx: RunbookContext): Promise<string> =>
  oncePerRun(
    'root-key.json',
    () => ctx.near.contractView<string>('public_key', { domain_id: 0 }),
    sharesObservations(),
  );

/** Per node, the manifest candidate that holds its keys on chain (MPC_KEYS_FILE may name several). */
export function manifestChoice(ctx: RunbookContext, chain: ChainView): KeysChoice {
  const participants = chain.state ? participantsOf(chain.state) : [];
  const nodes: ChainNodeKeys[] = ctx.deployment.nodes.map((n) => {
    const signPk = participants.find((p) => p[0] === n.accountId)?.[2].sign_pk;
    const accessKeys = (chain.keys[n.accountId] ?? []).map((k) => k.publicKey);
    return { index: n.index, accountId: n.accountId, accessKeys, ...(signPk ? { signPk } : {}) };
  });
  return chooseManifestKeys(ctx.candidates, nodes);
}

/** What the manifest side of the evidence says, publicly: which candidate each node uses, and why not. */
function manifestSide(ctx: RunbookContext, choice: KeysChoice): ManifestSide {
  const sources = Object.fromEntries(choice.nodes.filter((n) => n.chosen).map((n) => [n.index, n.chosen!]));
  return {
    given: ctx.candidates.length > 0,
    publicOnly: choice.manifest.publicOnly,
    candidates: ctx.candidates.map((c) => c.label),
    sources,
    refusals: choice.refusals,
    table: choice.table,
  };
}

/**
 * In gate and plan, where the run observes once and the steps judge, the run looks at its fleet once: the NEAR
 * base probe and the containers' status command (03 and 04's) go out together, one SSM round trip for both.
 * 00 sends them as soon as every instance is online (lookAtFleetEarly), so their delivery overlaps the rest of
 * the preflight; 01 reads them. A container status error is not 01's: nothing is kept, and 03 meets it when it
 * asks. Fix probes afresh, and reads the containers after its repairs.
 */
let fleetLook: { runId: string; reports: Promise<Map<number, PublicDataLine>> } | undefined;

function fleetReports(ctx: RunbookContext): Promise<Map<number, PublicDataLine>> {
  if (!sharesObservations()) return nodeSelfReports(ctx);
  if (fleetLook?.runId !== ctx.runId) {
    const containers = containerReports(ctx).catch(() => undefined);
    const reports = Promise.all([nodeSelfReports(ctx), containers]).then(([r]) => r);
    fleetLook = { runId: ctx.runId, reports };
  }
  return fleetLook.reports;
}

/**
 * 00, once every instance is online in SSM: send the fleet commands 01 will read — only when this run has 01
 * and the deployment has the NEAR base the probe runs on (without it 00 is red and 01 never reads them).
 */
export function lookAtFleetEarly(ctx: RunbookContext): void {
  if (!sharesObservations() || !runCovers('01-keys-match') || !ctx.deployment.nearBase) return;
  fleetReports(ctx).catch(() => undefined);
}

/** The four places, observed now. */
export async function observeKeys(ctx: RunbookContext): Promise<KeyEvidence> {
  const { deployment } = ctx;
  const names = deployment.nodes.flatMap((n) => [secretNames(n.index).account, secretNames(n.index).p2p]);
  const [chain, secrets, reports] = await Promise.all([chainView(ctx), readSecrets(ctx.sm, names), fleetReports(ctx)]);
  if (!chain.state) throw new Error(`the contract state cannot be read (see 00-preflight): ${chain.stateError}`);
  // The second vantage point, only for the nodes the NEAR base got no answer from.
  const own = await ownInstanceReports(ctx, unansweredFromBase(deployment.nodes, reports));
  const choice = manifestChoice(ctx, chain);
  const nodes = deployment.nodes.map((n) => nodeEvidence(n, { chain, secrets, reports, own }, choice.manifest));
  const findings = diagnose(nodes, {
    contractId: ctx.config.MPC_CONTRACT_ID,
    manifestGiven: ctx.candidates.length > 0,
    gasPrice: BigInt(chain.gasPrice),
  });
  return { state: chain.state, nodes, findings, manifest: manifestSide(ctx, choice) };
}
