/**
 * npm run unlock -- <runId>: release the fix lock of a run that is dead (killed, crashed, its
 * machine gone). Only the named run's lock is removed, and never the lock of a process that is alive
 * on this host, so a live run is not unlocked by mistake. Read that run's journal before fixing again.
 */
import { hostname } from 'node:os';
import { config as loadDotenv } from 'dotenv';
import { breakFixLock, type LockHolder } from '../helpers/aws/fix-lock.ts';
import { assertWritable } from '../helpers/aws/sts.ts';
import { redactor } from '../helpers/redact.ts';
import { writeRefusal } from '../helpers/target.ts';

const stop = (code: number, text: string): never => {
  process.stderr.write(redactor.redact(text));
  process.exit(code);
};

/** Whether a process is alive on this host (EPERM: alive, but another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let released: LockHolder | undefined;

/** A live holder on this host is refused; on another host the operator is told how to check. */
function refuseLive(h: LockHolder): string | undefined {
  released = h;
  if (h.host !== hostname()) return undefined;
  if (!alive(h.pid)) return undefined;
  return (
    `run ${h.runId} is alive on this host (pid ${h.pid}): stop it (Ctrl-C, or kill ${h.pid}) — ` +
    'it releases its lock when it ends; nothing released'
  );
}

const runId = process.argv[2];
if (!runId) stop(2, 'usage: npm run unlock -- <runId>   (the run id the refused fix printed)\n');
loadDotenv({ quiet: true });
const refused = writeRefusal(process.env, 'unlock');
if (refused) stop(1, `${refused}\n`);
try {
  await assertWritable({
    AWS_REGION: process.env.AWS_REGION ?? '',
    EXPECTED_AWS_ACCOUNT_ID: process.env.EXPECTED_AWS_ACCOUNT_ID,
    EXPECTED_AWS_REGION: process.env.EXPECTED_AWS_REGION,
  });
} catch (e) {
  stop(1, `unlock: ${(e as Error).message}; nothing released\n`);
}
const r = await breakFixLock(process.env, runId!, { refuse: refuseLive });
if (r === 'released') process.stdout.write(`released the fix lock of run ${runId}\n`);
else if (r === 'not-held') process.stdout.write('no fix run holds the lock; nothing to release\n');
else if ('refused' in r) stop(1, `${r.refused}\n`);
else stop(1, `the lock is held by run ${r.heldBy}, not ${runId}; nothing released\n`);
if (r === 'released' && released && released.host !== hostname()) {
  process.stdout.write(
    `run ${runId} took the lock on host ${released.host} (pid ${released.pid}), which this machine cannot see: ` +
      `check there that it is gone (ps -p ${released.pid}) before fixing again.\n`,
  );
}
