import { describe, expect, test } from 'vitest';
import { runOn } from '../helpers/aws/ssm.ts';
import { participantsOf, stateName, type ContractState } from '../helpers/near/rpc.ts';
import { waitUntil } from '../helpers/retry.ts';
import { openStep, prerequisitesHold, use } from '../helpers/runbook.ts';
import { containerStatusScript, parseContainerStatus } from '../helpers/instances/node-reports.ts';

const step = await openStep('04-contract-running');
const nodes = step.ctx?.deployment.nodes ?? [];

/** "Initializing: domain 0 attempt 3, votes 2 of 3, expires at block 5151" */
function progress(s: ContractState, height?: number): string {
  if (typeof s !== 'object' || !('Initializing' in s)) return stateName(s);
  const ev = s.Initializing.generating_key;
  const n = participantsOf(s).length;
  const inst = ev.instance;
  if (!inst)
    return `Initializing: domain ${ev.domain.id} (${ev.domain.scheme}), no key generation attempt running (next attempt ${ev.next_attempt_id})`;
  return `Initializing: domain ${ev.domain.id} (${ev.domain.scheme}), attempt ${inst.attempt_id}, votes ${inst.completed.length} of ${n}, expires at block ${inst.expires_on}${height ? ` (now ${height})` : ''}`;
}

describe('04 contract running: v1.signer reaches Running and the nodes stop failing', () => {
  prerequisitesHold(step, test);

  test('the contract is Running', async (t) => {
    const ctx = use(step, t);
    // Gate and plan look once, waiting only for a key-generation attempt already under way; fix waits up to the timeout.
    const budgetMs = ctx.mode === 'fix' ? ctx.config.RUNBOOK_RUNNING_TIMEOUT_S * 1000 : 0;
    let last = '';
    const seen: string[] = [];
    const state = await waitUntil(
      'v1.signer to reach Running',
      async () => {
        const [s, st] = await Promise.all([ctx.near.contractState(), ctx.near.status()]);
        last = progress(s, st.sync_info.latest_block_height);
        if (seen[seen.length - 1] !== last) {
          seen.push(last);
          if (ctx.mode === 'fix') console.log(`[04] ${last}`);
        }
        if (stateName(s) === 'Running' && s !== 'NotInitialized' && s.Running.keyset.domains.length > 0) return s;
        const active =
          typeof s === 'object' &&
          'Initializing' in s &&
          s.Initializing.generating_key.instance &&
          st.sync_info.latest_block_height < s.Initializing.generating_key.instance.expires_on;
        return budgetMs === 0 && !active ? s : undefined;
      },
      { timeoutMs: Math.max(budgetMs, 1000), intervalMs: 500 },
    ).catch((e: Error) => ({ error: e.message }));
    t.annotate(seen.join('\n'), 'progress');
    if (stateName(state as ContractState) !== 'Running') expect.fail(`v1.signer is ${last}`);
  });

  test('public_key({domain_id: 0}) is a secp256k1 key', async (t) => {
    const ctx = use(step, t);
    const key = await ctx.near.contractView<string>('public_key', { domain_id: 0 }).catch((e: Error) => e.message);
    t.annotate(String(key), 'evidence');
    if (!/^secp256k1:[1-9A-HJ-NP-Za-km-z]{80,90}$/.test(String(key)))
      expect.fail(`public_key({domain_id: 0}) gave: ${key}`);
  });

  test('no node has logged AccessKeyNotFound since its container started', async (t) => {
    const ctx = use(step, t);
    const res = await runOn(
      ctx.ssm,
      nodes.map((n) => n.instanceId),
      containerStatusScript,
      { timeoutS: ctx.config.RUNBOOK_SSM_TIMEOUT_S, comment: 'mpc-runbook: AccessKeyNotFound since restart' },
    );
    const lines = nodes.map((n) => ({ n, s: parseContainerStatus(res.get(n.instanceId)?.stdout ?? '') }));
    t.annotate(
      lines
        .map(
          ({ n, s }) =>
            `${n.accountId}: ${s ? `${s.accessKeyNotFound} AccessKeyNotFound since ${s.startedAt}` : 'no answer'}`,
        )
        .join('\n'),
      'evidence',
    );
    const bad = lines
      .filter(({ s }) => !s || s.accessKeyNotFound > 0)
      .map(
        ({ n, s }) =>
          `${n.accountId}: ${s ? `${s.accessKeyNotFound} AccessKeyNotFound lines since ${s.startedAt}` : 'no answer from the instance'}`,
      );
    if (bad.length) expect.fail(`nodes still failing their transactions:\n${bad.join('\n')}`);
  });
});
