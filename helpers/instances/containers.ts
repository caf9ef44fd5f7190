/** The mpc-node containers as each instance's docker sees them (through SSM), as a claim of step 03. */
import { type InvocationResult, runOn } from '../aws/ssm.ts';
import type { RunbookContext } from '../harness/context.ts';
import type { Verdict } from '../harness/claim.ts';
import { sharesObservations } from '../harness/mode.ts';
import { oncePerRun } from '../harness/run-state.ts';
import { containerLastWordsScript, containerStatusScript, parseContainerStatus } from './node-reports.ts';

/** One instance's answer to the container status script (public: state, start, restarts, a count). */
export interface ContainerReport {
  status: string;
  stdout: string;
}

/**
 * Every node's container (state, start, restarts, AccessKeyNotFound lines since the start): one SSM command,
 * read once per gate or plan run — 03 and 04 share it, as they share the chain view — and afresh in fix,
 * where 03 may have restarted the nodes before 04 looks.
 */
export async function containerReports(ctx: RunbookContext): Promise<Map<string, ContainerReport>> {
  const read = async () => {
    const res = await runOn(
      ctx.ssm,
      ctx.deployment.nodes.map((n) => n.instanceId),
      containerStatusScript,
      { timeoutS: ctx.config.RUNBOOK_SSM_TIMEOUT_S, comment: 'mpc-runbook: container status' },
    );
    return Object.fromEntries([...res].map(([id, r]) => [id, { status: r.status, stdout: r.stdout }]));
  };
  return new Map(Object.entries(await oncePerRun('containers.json', read, sharesObservations())));
}

/** Why containers do not come back: each one's state and last log lines (nothing when SSM itself fails). */
export const containerLastWords = (ctx: RunbookContext, instanceIds: string[], comment: string) =>
  runOn(ctx.ssm, instanceIds, containerLastWordsScript, { timeoutS: ctx.config.RUNBOOK_SSM_TIMEOUT_S, comment }).catch(
    () => new Map<string, InvocationResult>(),
  );

/** 03: every mpc-node container is up. */
export async function containersUp(_: unknown, ctx: RunbookContext): Promise<Verdict> {
  const res = await containerReports(ctx);
  const seen = ctx.deployment.nodes.map((n) => {
    const r = res.get(n.instanceId);
    return {
      n,
      out: r?.stdout.trim() || r?.status || 'no answer',
      state: parseContainerStatus(r?.stdout ?? '')?.state,
    };
  });
  const down = seen.filter((s) => s.state !== 'running').map((s) => `${s.n.accountId}: ${s.out}`);
  return {
    evidence: seen.map((s) => `${s.n.accountId}: ${s.out}`).join('\n'),
    problems: down.map((message) => ({ message })),
    summary: `containers not running:\n${down.join('\n')}`,
  };
}
