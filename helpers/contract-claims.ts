/**
 * The claims of step 04: v1.signer reaches Running with a secp256k1 root key, and no node logged
 * AccessKeyNotFound since its container started. The contract is observed on the typed state; a
 * key generation attempt already under way is watched to its end (never longer than its expiry).
 */
import type { FixUpIO, PlannedAction } from './harness/fix-up.ts';
import type { RunbookContext } from './harness/context.ts';
import type { Verdict } from './harness/claim.ts';
import { containerStatusScript, parseContainerStatus } from './instances/node-reports.ts';
import { runOn } from './aws/ssm.ts';
import { activeKeyEvent, type ContractState, isRunningWithKeys, progressSentence } from './near/contract-state.ts';
import { waitUntil } from './retry.ts';

export interface ContractEvidence {
  state: ContractState;
  height: number;
  /** What was seen while watching, one sentence per change. */
  seen: string[];
}

async function look(ctx: RunbookContext) {
  const [state, status] = await Promise.all([ctx.near.contractState(), ctx.near.status()]);
  return { state, height: status.sync_info.latest_block_height };
}

/** How long an observation watches a key generation attempt already under way (a gate stays quick). */
const WATCH_MS = 5_000;

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
  return { ...last, seen };
}

/** 04: the contract is Running with a key. */
export function contractRunning(ev: ContractEvidence): Verdict {
  const now = progressSentence(ev.state, ev.height);
  return {
    evidence: ev.seen.join('\n'),
    problems: isRunningWithKeys(ev.state) ? [] : [{ message: `v1.signer is ${now}` }],
  };
}

/** The wait the fix run makes for Running: nothing is written, the key event is watched. */
export function describeWaitForRunning(_: ContractEvidence, ctx: RunbookContext): PlannedAction[] {
  const s = ctx.config.RUNBOOK_RUNNING_TIMEOUT_S;
  return [{ kind: 'wait', target: 'v1.signer Running', text: `wait up to ${s} s for v1.signer to reach Running` }];
}

export async function untilRunning(_: PlannedAction[], io: FixUpIO): Promise<ContractEvidence> {
  const seen: string[] = [];
  let last = await look(io.ctx);
  await waitUntil(
    'v1.signer to reach Running',
    async () => {
      last = await look(io.ctx);
      const line = progressSentence(last.state, last.height);
      if (seen[seen.length - 1] !== line) seen.push(line);
      io.progress(`waiting for Running: ${line}`);
      return isRunningWithKeys(last.state) ? true : undefined;
    },
    { timeoutMs: io.ctx.config.RUNBOOK_RUNNING_TIMEOUT_S * 1000, intervalMs: 500 },
  ).catch(() => undefined);
  return { ...last, seen };
}

/** 04: public_key({domain_id: 0}) is a secp256k1 key. */
export async function rootKeyIsSecp256k1(_: unknown, ctx: RunbookContext): Promise<Verdict> {
  const key = await ctx.near.contractView<string>('public_key', { domain_id: 0 }).catch((e: Error) => e.message);
  const ok = /^secp256k1:[1-9A-HJ-NP-Za-km-z]{80,90}$/.test(String(key));
  return { evidence: String(key), problems: ok ? [] : [{ message: `public_key({domain_id: 0}) gave: ${key}` }] };
}

/** 04: no node has logged AccessKeyNotFound since its container started. */
export async function noAccessKeyNotFound(_: unknown, ctx: RunbookContext): Promise<Verdict> {
  const nodes = ctx.deployment.nodes;
  const res = await runOn(
    ctx.ssm,
    nodes.map((n) => n.instanceId),
    containerStatusScript,
    { timeoutS: ctx.config.RUNBOOK_SSM_TIMEOUT_S, comment: 'mpc-runbook: AccessKeyNotFound since restart' },
  );
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
