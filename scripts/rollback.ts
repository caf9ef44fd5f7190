/**
 * npm run rollback -- <journal.jsonl> [--plan] [--force <secret|node>]…: the exact inverse of a fix
 * run, newest write first, with fix's guard rails — an explicit target, the expected account and
 * region, the fix lock — and only for what is still as the run left it. --plan prints what it would do
 * and writes nothing. Intents with no recorded outcome are listed for a person to check, never guessed.
 */
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { config as loadDotenv } from 'dotenv';
import { acquireFixLock, type FixLock } from '../helpers/aws/fix-lock.ts';
import { secretsClient } from '../helpers/aws/secrets-manager.ts';
import { ssmClient } from '../helpers/aws/ssm.ts';
import { assertWritable } from '../helpers/aws/sts.ts';
import { journalTarget, openJournal, planRollback, readJournal } from '../helpers/journal.ts';
import { redactor } from '../helpers/redact.ts';
import { type ItemOutcome, rollBack } from '../helpers/rollback.ts';
import { writeRefusal } from '../helpers/target.ts';

const say = (text: string) => process.stdout.write(redactor.redact(text));
const stop = (code: number, text: string): never => {
  process.stderr.write(redactor.redact(text));
  process.exit(code);
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { plan: { type: 'boolean', default: false }, force: { type: 'string', multiple: true, default: [] } },
});
const path = positionals[0];
if (!path) stop(2, 'usage: npm run rollback -- <.runbook/journal/<run>.jsonl> [--plan] [--force <secret|node>]…\n');
loadDotenv({ quiet: true });
const env = process.env;
const region = env.AWS_REGION ?? '';
let lock: FixLock | undefined;
const refused = values.plan ? undefined : writeRefusal(env, 'rollback');
if (refused) stop(1, `${refused}\n`);
try {
  const { actions, unknown } = planRollback(readJournal(path!));
  if (!values.plan) {
    await assertWritable({
      AWS_REGION: region,
      EXPECTED_AWS_ACCOUNT_ID: env.EXPECTED_AWS_ACCOUNT_ID,
      EXPECTED_AWS_REGION: env.EXPECTED_AWS_REGION,
    });
    lock = await acquireFixLock(env, `rollback-of-${basename(path!, '.jsonl')}`);
  }
  const journal = values.plan
    ? undefined
    : openJournal(env.RUNBOOK_JOURNAL_DIR || '.runbook/journal', `rollback-of-${basename(path!, '.jsonl')}`);
  const io = {
    sm: secretsClient(region),
    ssm: ssmClient(region),
    ssmTimeoutS: Number(env.RUNBOOK_SSM_TIMEOUT_S || 120),
    forced: values.force,
    plan: values.plan,
    ...(journal ? { journal } : {}),
  };
  if (!actions.length) say('nothing to roll back: the journal records no completed writes\n');
  const outcomes: ItemOutcome[] = [];
  for (const a of actions) {
    const o = await rollBack(a, io);
    outcomes.push(o);
    say('done' in o ? `${o.done}\n` : 'refused' in o ? `REFUSED ${o.refused}\n` : `${o.nothing}\n`);
  }
  for (const u of unknown)
    say(`UNKNOWN OUTCOME (check by hand): ${u.step} ${u.action.kind} ${journalTarget(u.action)}\n`);
  if (journal) say(`rollback journal: ${journal.path}\n`);
  if (values.plan) say('plan only: nothing was written\n');
  await lock?.release();
  process.exit(unknown.length || outcomes.some((o) => 'refused' in o) ? 1 : 0);
} catch (e) {
  await lock?.release().catch(() => undefined);
  stop(1, `rollback failed: ${redactor.redactError(e).message}\n`);
}
