import { describe, expect, test } from 'vitest';
import { errors } from '../helpers/diagnosis.ts';
import type { Finding, Repair } from '../helpers/evidence.ts';
import {
  assertWritable,
  collectEvidence,
  explain,
  openStep,
  prerequisitesHold,
  use,
  type Evidence,
  type RunbookContext,
} from '../helpers/runbook.ts';
import { keyFingerprint } from '../helpers/keys.ts';
import { putSecret, readSecrets } from '../helpers/aws/secrets-manager.ts';
import { observeKeySecret, restoreToken } from '../helpers/node-secrets.ts';

const step = await openStep('02-secrets-restored');
let evidence: Evidence | undefined;
if (step.ctx)
  evidence = await collectEvidence(step.ctx).catch((e: Error) => {
    step.blockedBecause = `collecting evidence failed: ${e.message}`;
    return undefined;
  });
const nodes = evidence?.nodes ?? [];
const secretFindings = (node: number): Finding[] =>
  errors(evidence!.findings).filter((f) => f.node === node && f.place === 'secretsManager');

/** restoreAccountSecret / restoreP2pSecret: the manifest's key, only if it is on chain for this account; journaled with what it replaced. */
async function restoreSecret(
  ctx: RunbookContext,
  repair: Extract<Repair, { kind: 'restore-secret' }>,
  replacedVersionId: string | undefined,
) {
  const entry = ctx.manifest!.nodes.find((n) => n.index === repair.node)!;
  const value = repair.role === 'account' ? entry.accountSecretKey : entry.p2pSecretKey;
  const token = restoreToken(ctx.runId, repair.secretName, repair.publicKey);
  const journal = ctx.journal();
  const ref = journal.intent('02-secrets-restored', {
    kind: 'put-secret',
    secretName: repair.secretName,
    replacedVersionId: replacedVersionId ?? null,
    token,
    publicKey: repair.publicKey,
  });
  try {
    const { versionId } = await putSecret(ctx.sm, repair.secretName, value, token);
    journal.done(ref, { versionId, fingerprint: keyFingerprint(value) });
  } catch (e) {
    journal.failed(ref, e);
    throw e;
  }
}

describe('02 secrets restored: Secrets Manager holds, for every node, keys that are on chain', () => {
  prerequisitesHold(step, test);

  test.for(nodes)(
    '$accountId: mpc_account_sk derives an access key of the account, mpc_p2p_private_key its participant sign_pk',
    async (node, t) => {
      const ctx = use(step, t);
      const found = secretFindings(node.index);
      t.annotate(
        `account secret: ${node.secretsManager.account.shape} ${node.secretsManager.account.publicKey ?? ''}; p2p secret: ${node.secretsManager.p2p.shape} ${node.secretsManager.p2p.publicKey ?? ''}`,
        'evidence',
      );
      if (found.length === 0) return;
      const refused = found.filter((f) => !f.repair);
      if (refused.length) expect.fail(`${node.accountId}: no safe repair:\n${explain(refused)}`);
      const repairs = found.map((f) => f.repair as Extract<Repair, { kind: 'restore-secret' }>);
      const actions = repairs.map(
        (r) =>
          `PutSecretValue ${r.secretName} ← manifest node-${r.node} ${r.role} key (${r.publicKey}), ClientRequestToken ${restoreToken(ctx.runId, r.secretName, r.publicKey)}`,
      );
      if (ctx.mode !== 'fix') {
        t.annotate(`would run:\n${actions.join('\n')}`, 'plan');
        if (ctx.mode === 'plan') console.log(`[plan] 02 ${node.accountId}:\n  ${actions.join('\n  ')}`);
        expect.fail(`${node.accountId}: Secrets Manager disagrees with the chain:\n${explain(found)}`);
      }
      await assertWritable(ctx);
      for (const r of repairs) {
        const obs = r.role === 'account' ? node.secretsManager.account : node.secretsManager.p2p;
        await restoreSecret(ctx, r, obs.versionId);
        t.annotate(`restored ${r.secretName} (replaced version ${obs.versionId ?? 'none'})`, 'fix');
      }
      // The same check again, on what Secrets Manager holds now.
      const again = await readSecrets(
        ctx.sm,
        repairs.map((r) => r.secretName),
      );
      for (const r of repairs) {
        const obs = observeKeySecret(again.get(r.secretName)!, { node: node.accountId, field: r.secretName });
        expect(obs.shape, `${r.secretName} after the restore`).toBe('plain');
        expect(obs.publicKey, `${r.secretName} after the restore`).toBe(r.publicKey);
      }
    },
  );
});
