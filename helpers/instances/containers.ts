/** The mpc-node containers as each instance's docker sees them (through SSM), as a claim of step 03. */
import { runOn } from '../aws/ssm.ts';
import type { RunbookContext } from '../harness/context.ts';
import type { Verdict } from '../harness/claim.ts';
import { containerStatusScript, parseContainerStatus } from './node-reports.ts';

/** 03: every mpc-node container is up. */
export async function containersUp(_: unknown, ctx: RunbookContext): Promise<Verdict> {
  const nodes = ctx.deployment.nodes;
  const res = await runOn(
    ctx.ssm,
    nodes.map((n) => n.instanceId),
    containerStatusScript,
    { timeoutS: ctx.config.RUNBOOK_SSM_TIMEOUT_S, comment: 'mpc-runbook: container status' },
  );
  const seen = nodes.map((n) => {
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
