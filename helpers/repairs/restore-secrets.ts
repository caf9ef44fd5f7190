/**
 * restoreAccountSecret / restoreP2pSecret: write the manifest's key to Secrets Manager — only a key
 * that is on chain for that very account (diagnosis offers the repair only then) — with a
 * deterministic ClientRequestToken (a re-run after a crash is idempotent), journaled with the
 * VersionId it replaced so rollback is exact.
 */
import { putSecret } from '../aws/secrets-manager.ts';
import { errors } from '../diagnosis.ts';
import type { Repair } from '../evidence.ts';
import type { RunbookContext } from '../harness/context.ts';
import type { FixUpIO, PlannedAction } from '../harness/fix-up.ts';
import { keyFingerprint } from '../keys.ts';
import { secretEntry } from '../manifest-candidates.ts';
import { type KeyEvidence, observeKeys } from '../observe.ts';
import { restoreToken } from '../node-secrets.ts';

type RestoreSecret = Extract<Repair, { kind: 'restore-secret' }>;
interface SecretRestore extends PlannedAction {
  kind: 'put-secret';
  repair: RestoreSecret;
  token: string;
  replacedVersionId: string | undefined;
  /** The manifest candidate the key comes from (by reference: the value never travels in an action). */
  source: string | undefined;
}

export function describeSecretRestores(ev: KeyEvidence, ctx: RunbookContext): SecretRestore[] {
  return errors(ev.findings)
    .filter((f) => f.place === 'secretsManager' && f.repair?.kind === 'restore-secret')
    .map((f) => {
      const r = f.repair as RestoreSecret;
      const observed = ev.nodes.find((n) => n.index === r.node)!.secretsManager;
      const token = restoreToken(ctx.runId, r.secretName, r.publicKey);
      return {
        kind: 'put-secret',
        target: r.secretName,
        node: r.node,
        repair: r,
        token,
        replacedVersionId: (r.role === 'account' ? observed.account : observed.p2p).versionId,
        source: ev.manifest.sources[r.node],
        text:
          `PutSecretValue ${r.secretName} ← manifest node-${r.node} ${r.role} key (${r.publicKey}), ` +
          `ClientRequestToken ${token}`,
      };
    });
}

async function restoreOne(a: SecretRestore, io: FixUpIO) {
  const entry = secretEntry(io.ctx.candidates, a.source, a.repair.node);
  const value = a.repair.role === 'account' ? entry.accountSecretKey : entry.p2pSecretKey;
  const ref = io.journal.intent(io.step, {
    kind: 'put-secret',
    secretName: a.target,
    replacedVersionId: a.replacedVersionId ?? null,
    token: a.token,
    publicKey: a.repair.publicKey,
  });
  try {
    const { versionId } = await putSecret(io.ctx.sm, a.target, value, a.token);
    io.journal.done(ref, { versionId, fingerprint: keyFingerprint(value) });
    io.done(a, `restored ${a.target} (replaced version ${a.replacedVersionId ?? 'none'})`);
  } catch (e) {
    io.journal.failed(ref, e);
    throw e;
  }
}

export async function restoreSecrets(actions: SecretRestore[], io: FixUpIO) {
  for (const a of actions) await restoreOne(a, io);
}

/** The same observation again, on what Secrets Manager holds now. */
export const observeKeysAgain = (_actions: PlannedAction[], io: FixUpIO) => observeKeys(io.ctx);
