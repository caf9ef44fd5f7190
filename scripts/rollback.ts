/**
 * npm run rollback -- <journal.jsonl>: the exact inverse of a fix run, newest write first —
 * node files back from their backups (container restarted), then AWSCURRENT back to the versions
 * the fix replaced. The rollback is journaled too. Intents with no recorded outcome are listed for
 * a person to check, never guessed.
 */
import { basename } from 'node:path';
import { loadConfig } from '../helpers/config.ts';
import { runOn, ssmClient } from '../helpers/aws/ssm.ts';
import { openJournal, planRollback, readJournal } from '../helpers/journal.ts';
import { redactor } from '../helpers/redact.ts';
import { rollbackSecret, secretsClient } from '../helpers/aws/secrets-manager.ts';
import { restoreNodeFileScript } from '../helpers/repairs/rematerialise-node-secrets.ts';

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: npm run rollback -- <.runbook/journal/<run>.jsonl>\n');
  process.exit(2);
}
try {
  const config = loadConfig();
  const { actions, unknown } = planRollback(readJournal(path));
  const journal = openJournal(config.RUNBOOK_JOURNAL_DIR, `rollback-of-${basename(path, '.jsonl')}`);
  const sm = secretsClient(config.AWS_REGION);
  const ssm = ssmClient(config.AWS_REGION);
  if (!actions.length) process.stdout.write('nothing to roll back: the journal records no completed writes\n');
  for (const a of actions) {
    const ref = journal.intent('rollback', a);
    try {
      if (a.kind === 'restore-secret-version') {
        await rollbackSecret(sm, a.secretName, a.toVersionId);
        process.stdout.write(`restored ${a.secretName}: AWSCURRENT → ${a.toVersionId} (was ${a.fromVersionId})\n`);
      } else if (a.kind === 'restore-node-file') {
        const r = (
          await runOn(ssm, [a.instanceId], restoreNodeFileScript(a.backupPath), {
            timeoutS: config.RUNBOOK_SSM_TIMEOUT_S,
            comment: 'mpc-runbook: rollback secrets.json',
          })
        ).get(a.instanceId);
        if (r?.status !== 'Success') throw new Error(`${a.node}: ${r?.status}: ${r?.stderr.trim()}`);
        process.stdout.write(`restored ${a.node} secrets.json from ${a.backupPath} and restarted mpc-node\n`);
      }
      journal.done(ref, {});
    } catch (e) {
      journal.failed(ref, e);
      throw e;
    }
  }
  for (const u of unknown)
    process.stdout.write(`UNKNOWN OUTCOME (check by hand): ${u.step} ${JSON.stringify(u.action)}\n`);
  process.stdout.write(`rollback journal: ${journal.path}\n`);
  process.exit(unknown.length ? 1 : 0);
} catch (e) {
  process.stderr.write(`rollback failed: ${redactor.redactError(e).message}\n`);
  process.exit(1);
}
