/**
 * The claims of step 04: v1.signer reaches Running with a secp256k1 root key, and no node logged
 * AccessKeyNotFound since its container started. The contract is observed on the typed state; a
 * key generation attempt already under way is watched to its end (never longer than its expiry).
 */
import type { FixUpIO, PlannedAction } from './harness/fix-up.ts';
import type { RunbookContext } from './harness/context.ts';
import type { Verdict } from './harness/claim.ts';
import { containerReports } from './instances/containers.ts';
import { parseContainerStatus } from './instances/node-reports.ts';
import {
  activeKeyEvent,
  type ContractState,
  isRunningWithKeys,
  isRunningWithoutDomain,
  progressSentence,
} from './near/contract-state.ts';
import { waitUntil } from './retry.ts';
import { type BlockerEvidence, gatherBlockerEvidence } from './blocker-evidence.ts';
import { type Blocker, blockerTable, judgeBlockers, votes } from './blockers.ts';
import { rootKey } from './observe.ts';
import { redactor } from './redact.ts';

export interface ContractEvidence {
  state: ContractState;
  height: number;
  /** What was seen while watching, one sentence per change. */
  seen: string[];
  /** When the contract is not Running: what was gathered to name the blocker (none when Running). */
  blockers?: BlockerEvidence;
  /** Why the blocker evidence could not be gathered. */
  blockersUnread?: string;
  /** How long a fix run waited for Running before this was observed. */
  waitedS?: number;
  /** The wait ended before its time: what blocks the contract turned out not to clear by waiting. */
  stuckWhileWaiting?: boolean;
  /** A fix run had nothing to wait for: what blocks the contract does not clear by waiting. */
  noWait?: boolean;
}

async function look(ctx: RunbookContext) {
  const [state, status] = await Promise.all([ctx.near.contractState(), ctx.near.status()]);
  return { state, height: status.sync_info.latest_block_height };
}

/** How long an observation watches a key generation attempt already under way (a gate stays quick). */
const WATCH_MS = 5_000;

/** A contract with a key event (participants) that is not Running: what blocks it is worth gathering. */
const keyEventPending = (s: ContractState) => !isRunningWithKeys(s) && s !== 'NotInitialized' && !('Running' in s);

/** The blocker evidence of a contract that is not Running (nothing is gathered for one that is). */
async function withBlockers(ctx: RunbookContext, ev: Omit<ContractEvidence, 'blockers'>): Promise<ContractEvidence> {
  if (!keyEventPending(ev.state)) return ev;
  try {
    return { ...ev, blockers: await gatherBlockerEvidence(ctx, ev.state) };
  } catch (e) {
    return { ...ev, blockersUnread: redactor.redactError(e).message.split('\n')[0] };
  }
}

/** The contract now; a key generation attempt under way is watched a few seconds, to its end if it ends. */
export async function observeContract(ctx: RunbookContext): Promise<ContractEvidence> {
  const until = Date.now() + WATCH_MS;
  const seen: string[] = [];
  const note = (s: ContractState, h: number) => {
    const line = progressSentence(s, h);
    if (seen[seen.length - 1] !== line) seen.push(line);
  };
  let last = await look(ctx);
  note(last.state, last.height);
  while (!isRunningWithKeys(last.state) && activeKeyEvent(last.state, last.height) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 500));
    last = await look(ctx);
    note(last.state, last.height);
  }
  return withBlockers(ctx, { ...last, seen });
}

/** The blockers of a contract that is not Running, as judged from its evidence. */
const blockersOf = (ev: ContractEvidence, ctx: RunbookContext): Blocker[] =>
  ev.blockers ? judgeBlockers(ev.state, ev.blockers, { contractId: ctx.config.MPC_CONTRACT_ID }) : [];

const STOPPED_WAITING = ' (stopped: what blocks it does not clear by waiting)';

/** 04: the contract is Running with a key; when it is not, the blocker named with its evidence and what to do. */
export function contractRunning(ev: ContractEvidence, ctx: RunbookContext): Verdict {
  const now = progressSentence(ev.state, ev.height);
  if (isRunningWithKeys(ev.state)) return { evidence: ev.seen.join('\n'), problems: [] };
  const blockers = blockersOf(ev, ctx);
  const table = ev.blockers ? blockerTable(ev.state, ev.blockers) : '';
  const waited =
    ev.waitedS !== undefined
      ? `after waiting ${ev.waitedS} s${ev.stuckWhileWaiting ? STOPPED_WAITING : ''}, `
      : ev.noWait
        ? 'nothing to wait for (what blocks it does not clear by waiting): '
        : '';
  const live = activeKeyEvent(ev.state, ev.height) !== undefined;
  const head = `${waited}v1.signer is ${now}${ev.blockers && !live ? `; ${votes(ev.state, ev.height)}` : ''}`;
  const named = blockers.map((b) => `- ${b.sentence}.\n    To do: ${b.todo}.`);
  const unread = ev.blockersUnread ? [`what blocks it could not be gathered: ${ev.blockersUnread}`] : [];
  const perNode = table ? ["per node (seen on each node's own instance and through the NEAR RPC):", table] : [];
  const summary = [head, ...(named.length ? ['blocked by:', ...named] : []), ...unread, ...perNode].join('\n');
  return {
    evidence: [...ev.seen, ...(table ? [table] : [])].join('\n'),
    problems: [{ message: head }, ...blockers.map((b) => ({ message: b.sentence }))],
    summary,
  };
}

/**
 * The wait the fix run makes for Running: nothing is written, the key event is watched — unless what
 * blocks it does not clear by waiting (a port collision, an attestation the contract refuses, …): then
 * there is nothing to wait for, and the claim stays red with the blocker and what to do.
 */
export function describeWaitForRunning(ev: ContractEvidence, ctx: RunbookContext): PlannedAction[] {
  const stuck = blockersOf(ev, ctx).filter((b) => !b.clearsByWaiting);
  if (stuck.length || isRunningWithoutDomain(ev.state)) return [];
  const s = ctx.config.RUNBOOK_RUNNING_TIMEOUT_S;
  return [{ kind: 'wait', target: 'v1.signer Running', text: `wait up to ${s} s for v1.signer to reach Running` }];
}

/**
 * While a fix run waits for Running, what blocks the contract is gathered again this often. A blocker that
 * clears by waiting can turn into one that does not (an indexer still syncing turns out to trail the chain by
 * more than an attempt lives); seen so twice in a row — not a node caught mid-restart or mid-catch-up — it
 * ends the wait there instead of at RUNBOOK_RUNNING_TIMEOUT_S.
 */
const REJUDGE_MS = 10_000;

/** The blockers that do not clear by waiting, as one comparable line ('' when there is none). */
const stuckOn = (ev: ContractEvidence, ctx: RunbookContext) =>
  blockersOf(ev, ctx)
    .filter((b) => !b.clearsByWaiting)
    .map((b) => `${b.code}:${[...b.nodes].sort().join(',')}`)
    .sort()
    .join(' ');

export async function untilRunning(actions: PlannedAction[], io: FixUpIO): Promise<ContractEvidence> {
  const seen: string[] = [];
  let last = await look(io.ctx);
  const started = Date.now();
  let stuck: ContractEvidence | undefined;
  if (actions.some((a) => a.kind === 'wait')) {
    let nextJudgement = started + REJUDGE_MS;
    let stuckBefore = '';
    await waitUntil(
      'v1.signer to reach Running',
      async () => {
        last = await look(io.ctx);
        const line = progressSentence(last.state, last.height);
        if (seen[seen.length - 1] !== line) seen.push(line);
        io.progress(`waiting for Running: ${line}`);
        if (isRunningWithKeys(last.state)) return true;
        if (Date.now() < nextJudgement) return undefined;
        const judged = await withBlockers(io.ctx, { ...last, seen });
        nextJudgement = Date.now() + REJUDGE_MS;
        const now = stuckOn(judged, io.ctx);
        const again = now !== '' && now === stuckBefore;
        stuckBefore = now;
        if (!again) return undefined;
        stuck = judged;
        return false;
      },
      { timeoutMs: io.ctx.config.RUNBOOK_RUNNING_TIMEOUT_S * 1000, intervalMs: 500 },
    ).catch(() => undefined);
  } else seen.push(progressSentence(last.state, last.height));
  // A wait that ended without Running ends with what blocks it, never a bare "timed out".
  const waited = actions.length ? { waitedS: Math.round((Date.now() - started) / 1000) } : { noWait: true };
  if (stuck) return { ...stuck, seen, ...waited, stuckWhileWaiting: true };
  return withBlockers(io.ctx, { ...last, seen, ...waited });
}

/** 04: public_key({domain_id: 0}) is a secp256k1 key. */
export async function rootKeyIsSecp256k1(_: unknown, ctx: RunbookContext): Promise<Verdict> {
  const key = await rootKey(ctx).catch((e: Error) => e.message);
  const ok = /^secp256k1:[1-9A-HJ-NP-Za-km-z]{80,90}$/.test(String(key));
  return { evidence: String(key), problems: ok ? [] : [{ message: `public_key({domain_id: 0}) gave: ${key}` }] };
}

/** 04: no node has logged AccessKeyNotFound since its container started. */
export async function noAccessKeyNotFound(_: unknown, ctx: RunbookContext): Promise<Verdict> {
  const nodes = ctx.deployment.nodes;
  const res = await containerReports(ctx);
  const lines = nodes.map((n) => ({ n, s: parseContainerStatus(res.get(n.instanceId)?.stdout ?? '') }));
  const evidence = lines
    .map(({ n, s }) =>
      s ? `${n.accountId}: ${s.accessKeyNotFound} AccessKeyNotFound since ${s.startedAt}` : `${n.accountId}: no answer`,
    )
    .join('\n');
  const bad = lines
    .filter(({ s }) => !s || s.accessKeyNotFound > 0)
    .map(({ n, s }) =>
      s
        ? `${n.accountId}: ${s.accessKeyNotFound} AccessKeyNotFound lines since ${s.startedAt}`
        : `${n.accountId}: no answer from the instance`,
    );
  return {
    evidence,
    problems: bad.map((message) => ({ message })),
    summary: `nodes still failing their transactions:\n${bad.join('\n')}`,
  };
}
