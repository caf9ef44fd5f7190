import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, test } from 'vitest';
import { errors } from '../helpers/diagnosis.ts';
import type { Repair } from '../helpers/evidence.ts';
import { describeOutcome, runOn, type InvocationResult } from '../helpers/aws/ssm.ts';
import { normaliseSecretValue } from '../helpers/keys.ts';
import { waitUntil } from '../helpers/retry.ts';
import {
  assertWritable,
  collectEvidence,
  explain,
  nodeSelfReports,
  openStep,
  prerequisitesHold,
  use,
  type Evidence,
  type RunbookContext,
} from '../helpers/runbook.ts';
import { readSecrets } from '../helpers/aws/secrets-manager.ts';
import {
  containerLastWordsScript,
  containerStatusScript,
  parseContainerStatus,
} from '../helpers/instances/node-reports.ts';
import { parseRematerialise, rematerialiseScript } from '../helpers/repairs/rematerialise-node-secrets.ts';
import { secretNames } from '../helpers/node-secrets.ts';

const step = await openStep('03-nodes-healthy');
let evidence: Evidence | undefined;
if (step.ctx)
  evidence = await collectEvidence(step.ctx).catch((e: Error) => {
    step.blockedBecause = `collecting evidence failed: ${e.message}`;
    return undefined;
  });
const nodes = evidence?.nodes ?? [];
const nodeFindings = (ev: Evidence, node: number) =>
  errors(ev.findings).filter((f) => f.node === node && f.place === 'node');
type Rematerialise = Extract<Repair, { kind: 'rematerialise-node-secrets' }>;
const sha256 = (v: string) => createHash('sha256').update(v).digest('hex');
let fixUpError: Error | undefined;

/**
 * rematerialiseNodeSecrets: the bootstrap writes /data/secrets.json only if it is missing, so
 * restoring Secrets Manager and restarting changes nothing. Rewrite the file from Secrets Manager on
 * the instance (old file backed up, never printed), restart mpc-node, and wait until the node
 * reports the on-chain keys and answers /health from inside the VPC.
 */
async function rematerialiseNodeSecrets(ctx: RunbookContext, repairs: Rematerialise[]) {
  // Prerequisite: the secret each node will be built from derives the key that is on chain (step 02).
  const secrets = await readSecrets(
    ctx.sm,
    repairs.flatMap((r) => [secretNames(r.node).account, secretNames(r.node).p2p]),
  );
  const expected = repairs.map((r) => {
    const account = normaliseSecretValue(secrets.get(secretNames(r.node).account)?.value).value;
    const p2p = normaliseSecretValue(secrets.get(secretNames(r.node).p2p)?.value).value;
    const manifest = ctx.manifest!.nodes.find((n) => n.index === r.node)!;
    if (account !== manifest.accountSecretKey || p2p !== manifest.p2pSecretKey) {
      throw new Error(
        `mpc-node-${r.node}: Secrets Manager does not hold the manifest's on-chain keys yet (step 02 must pass first); nothing written`,
      );
    }
    return { index: r.node, accountSha256: sha256(account), p2pSha256: sha256(p2p) };
  });
  await assertWritable(ctx);
  const journal = ctx.journal();
  const refs = new Map(
    repairs.map((r) => [
      r.instanceId,
      journal.intent('03-nodes-healthy', {
        kind: 'rematerialise-node-secrets',
        instanceId: r.instanceId,
        node: `mpc-node-${r.node}`,
        backupPath: `\${MPC_DATA_DIR:-/data}/secrets.json.runbook-${ctx.runId}`,
        accountPublicKey: r.accountPublicKey,
        p2pPublicKey: r.p2pPublicKey,
      }),
    ]),
  );
  const results = await runOn(
    ctx.ssm,
    repairs.map((r) => r.instanceId),
    rematerialiseScript(ctx.runId, expected),
    {
      timeoutS: ctx.config.RUNBOOK_SSM_TIMEOUT_S,
      comment: 'mpc-runbook: rematerialise secrets.json and restart mpc-node',
    },
  );
  for (const r of repairs) {
    const res = results.get(r.instanceId);
    const parsed = res && parseRematerialise(res.stdout);
    if (res?.status === 'Success' && parsed) journal.done(refs.get(r.instanceId)!, { ...parsed });
    else journal.failed(refs.get(r.instanceId)!, new Error(describeOutcome(res)));
  }
  const failed = repairs.filter((r) => results.get(r.instanceId)?.status !== 'Success');
  if (failed.length) {
    const done = repairs.filter((r) => !failed.includes(r)).map((r) => `mpc-node-${r.node}`);
    throw new Error(
      `re-materialising failed on ${failed.map((r) => `mpc-node-${r.node} (${r.instanceId}): ${describeOutcome(results.get(r.instanceId))}`).join('; ')}${done.length ? `. Done and restarted: ${done.join(', ')}` : ''}. Run fix again once the instance is reachable; the journal has every outcome`,
    );
  }
  const healthy = (reports: Awaited<ReturnType<typeof nodeSelfReports>>, r: Rematerialise) =>
    reports.get(r.node)?.health === '200' &&
    reports.get(r.node)?.signer === r.accountPublicKey &&
    reports.get(r.node)?.p2p === r.p2pPublicKey;
  let last: Awaited<ReturnType<typeof nodeSelfReports>> | undefined;
  await waitUntil(
    'the restarted nodes to report their on-chain keys and answer /health',
    async () => {
      last = await nodeSelfReports(ctx);
      return repairs.every((r) => healthy(last!, r)) ? true : undefined;
    },
    { timeoutMs: ctx.config.RUNBOOK_HEALTH_TIMEOUT_S * 1000, intervalMs: 1000 },
  ).catch(async (e: Error) => {
    // Say why: a node that crash-loops after its restart shows it in its container state and last log lines.
    const stuck = repairs.filter((r) => !last || !healthy(last, r));
    const words = await runOn(
      ctx.ssm,
      stuck.map((r) => r.instanceId),
      containerLastWordsScript,
      { timeoutS: ctx.config.RUNBOOK_SSM_TIMEOUT_S, comment: 'mpc-runbook: container state after restart' },
    ).catch(() => new Map<string, InvocationResult>());
    const why = stuck.map((r) => {
      const out = (words.get(r.instanceId)?.stdout ?? '').trim();
      const st = parseContainerStatus(out);
      const state = st
        ? `container ${st.state}, ${st.restarts} restart${st.restarts === 1 ? '' : 's'} since ${st.startedAt}`
        : 'container state unknown';
      const logs = out
        .split('\n')
        .filter((l) => l.startsWith('last-log: '))
        .map((l) => l.slice(10))
        .join(' | ');
      return `mpc-node-${r.node} (${r.instanceId}): ${state}${st?.state === 'restarting' || (st?.restarts ?? 0) > 0 ? ' — crash-looping' : ''}${logs ? `; last log: ${logs}` : ''}`;
    });
    throw new Error(
      `${e.message}\n${why.join('\n')}\nThe new secrets.json is in place (journaled, backup kept); fix what the node reports, or roll back with npm run rollback`,
    );
  });
}

describe('03 nodes healthy: every node runs with its on-chain keys and answers inside the VPC', () => {
  prerequisitesHold(step, test);

  beforeAll(async () => {
    const ctx = step.ctx;
    if (!ctx || !evidence || ctx.mode !== 'fix') return;
    const repairs = [
      ...new Map(
        nodes
          .flatMap((n) => nodeFindings(evidence!, n.index))
          .filter((f) => f.repair?.kind === 'rematerialise-node-secrets')
          .map((f) => [f.node, f.repair as Rematerialise]),
      ).values(),
    ];
    if (!repairs.length) return;
    try {
      await rematerialiseNodeSecrets(ctx, repairs);
      evidence = await collectEvidence(ctx); // the same check again, on what the nodes report now
    } catch (e) {
      fixUpError = e as Error;
    }
  });

  test.for(nodes)('$accountId: /public_data keys are on chain and /health answers 200', (node, t) => {
    const ctx = use(step, t);
    if (fixUpError) throw fixUpError;
    const now = evidence!.nodes.find((n) => n.index === node.index)!;
    const found = nodeFindings(evidence!, node.index);
    t.annotate(
      `node reports signer ${now.node.signerPublicKey ?? '—'}, p2p ${now.node.p2pPublicKey ?? '—'}, ${now.node.reachable ? `health ${now.node.healthy ? '200' : 'not 200'}` : 'unreachable'}`,
      'evidence',
    );
    if (found.length && ctx.mode !== 'fix') {
      const plan = found
        .filter((f) => f.repair)
        .map(
          () =>
            `SSM on ${node.instanceId}: rewrite \${MPC_DATA_DIR:-/data}/secrets.json from Secrets Manager (backup kept), docker restart mpc-node, wait for /health and /public_data`,
        );
      if (plan.length) t.annotate(`would run:\n${[...new Set(plan)].join('\n')}`, 'plan');
      if (ctx.mode === 'plan' && plan.length) console.log(`[plan] 03 ${node.accountId}: ${plan[0]}`);
    }
    if (found.length) expect.fail(`${node.accountId}:\n${explain(found)}`);
    expect(now.node.healthy, `${node.accountId}: /health from the NEAR base`).toBe(true);
  });

  test('every mpc-node container is up', async (t) => {
    const ctx = use(step, t);
    const res = await runOn(
      ctx.ssm,
      nodes.map((n) => n.instanceId),
      containerStatusScript,
      { timeoutS: ctx.config.RUNBOOK_SSM_TIMEOUT_S, comment: 'mpc-runbook: container status' },
    );
    const down = nodes
      .filter((n) => parseContainerStatus(res.get(n.instanceId)?.stdout ?? '')?.state !== 'running')
      .map((n) => `${n.accountId}: ${res.get(n.instanceId)?.stdout.trim() || res.get(n.instanceId)?.status}`);
    t.annotate(nodes.map((n) => `${n.accountId}: ${res.get(n.instanceId)?.stdout.trim()}`).join('\n'), 'evidence');
    expect(down, 'containers not running').toEqual([]);
  });
});
