/**
 * npm run unlock -- <runId>: release the fix lock of a run that is dead (killed, crashed, its
 * machine gone). Only the named run's lock is removed, so a live run elsewhere is never unlocked
 * by mistake. Read that run's journal before fixing again.
 */
import { config as loadDotenv } from 'dotenv';
import { breakFixLock } from '../helpers/aws/fix-lock.ts';

const runId = process.argv[2];
if (!runId) {
  process.stderr.write('usage: npm run unlock -- <runId>   (the run id the refused fix printed)\n');
  process.exit(2);
}
loadDotenv({ quiet: true });
const r = await breakFixLock(process.env, runId);
if (r === 'released') process.stdout.write(`released the fix lock of run ${runId}\n`);
else if (r === 'not-held') process.stdout.write(`no fix run holds the lock; nothing to release\n`);
else {
  process.stderr.write(`the lock is held by run ${r.heldBy}, not ${runId}; nothing released\n`);
  process.exit(1);
}
