/**
 * The inverse of a fix run, with fix's guard rails: item by item, newest write first, and only what is
 * still as the run left it — AWSCURRENT still the version the run wrote, the node file still the one it
 * wrote. Anything changed since (a later fix, a person) is refused with the reason unless the operator
 * names it. `plan` says what would happen and writes nothing.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { awsCurrentVersion, rollbackSecret } from './aws/secrets-manager.ts';
import { describeOutcome, runOn } from './aws/ssm.ts';
import { type Journal, type JournalAction, journalTarget } from './journal.ts';
import { restoreNodeFileScript } from './repairs/rematerialise-node-secrets.ts';
import { stopContainerScript } from './repairs/start-container.ts';

type RestoreSecret = Extract<JournalAction, { kind: 'restore-secret-version' }>;
type RestoreFile = Extract<JournalAction, { kind: 'restore-node-file' }>;
type StopContainer = Extract<JournalAction, { kind: 'stop-container' }>;

export interface RollbackIO {
  sm: SecretsManagerClient;
  ssm: SSMClient;
  ssmTimeoutS: number;
  /** Items the operator named with --force (secret names, instance ids or node names). */
  forced: string[];
  /** Print what would happen; write nothing. */
  plan: boolean;
  journal?: Journal;
}

export type ItemOutcome = { done: string } | { refused: string } | { nothing: string };

const isForced = (io: RollbackIO, a: JournalAction) =>
  io.forced.includes(journalTarget(a)) || ('node' in a && io.forced.includes(a.node));

async function secretBack(a: RestoreSecret, io: RollbackIO): Promise<ItemOutcome> {
  const now = await awsCurrentVersion(io.sm, a.secretName);
  if (now === a.toVersionId) return { nothing: `${a.secretName}: AWSCURRENT is already ${a.toVersionId}` };
  if (now !== a.fromVersionId && !isForced(io, a)) {
    return {
      refused:
        `${a.secretName}: AWSCURRENT is ${now ?? 'gone'}, not the version this run wrote (${a.fromVersionId}) — it ` +
        `changed after the run; left alone (name it with --force ${a.secretName} to move it back anyway)`,
    };
  }
  const says = `${a.secretName}: AWSCURRENT ${now} → ${a.toVersionId}`;
  if (io.plan) return { done: `would move ${says}` };
  const ref = io.journal!.intent('rollback', a);
  try {
    await rollbackSecret(io.sm, a.secretName, a.toVersionId);
    io.journal!.done(ref, { was: now });
  } catch (e) {
    io.journal!.failed(ref, e);
    throw e;
  }
  return { done: `moved ${says}` };
}

/** Read-only: the sha256 of the node's secrets.json now. */
const SHA_NOW = ['D="${MPC_DATA_DIR:-/data}"', '(sha256sum "$D/secrets.json" 2>/dev/null || echo none) | cut -c1-64'];

async function fileBack(a: RestoreFile, io: RollbackIO): Promise<ItemOutcome> {
  const guarded = isForced(io, a) ? undefined : a.writtenSha256;
  const opts = { timeoutS: io.ssmTimeoutS, comment: 'mpc-runbook: rollback secrets.json' };
  if (io.plan) {
    const now = (await runOn(io.ssm, [a.instanceId], SHA_NOW, opts)).get(a.instanceId)?.stdout.trim();
    if (guarded && now !== guarded) {
      return {
        refused: `${a.node}: secrets.json changed after the run wrote it; would be left alone (--force ${a.node})`,
      };
    }
    return { done: `would restore ${a.node} secrets.json from ${a.backupPath} and restart mpc-node` };
  }
  const ref = io.journal!.intent('rollback', a);
  const r = (await runOn(io.ssm, [a.instanceId], restoreNodeFileScript(a.backupPath, guarded), opts)).get(a.instanceId);
  if (r?.status === 'Success') {
    io.journal!.done(ref, {});
    if (r.stdout.includes('already=')) return { nothing: `${a.node}: secrets.json is already the backup` };
    return { done: `restored ${a.node} secrets.json from ${a.backupPath} and restarted mpc-node` };
  }
  io.journal!.failed(ref, new Error(describeOutcome(r)));
  if (r?.exitCode === 5) return { refused: `${a.node}: ${r.stderr.trim()} (--force ${a.node} to restore it anyway)` };
  throw new Error(`${a.node}: ${describeOutcome(r)}`);
}

/** A container the run started: stopped again, only while it runs since that start (unless forced). */
async function containerBack(a: StopContainer, io: RollbackIO): Promise<ItemOutcome> {
  const guarded = isForced(io, a) ? undefined : a.startedAt;
  if (io.plan) return { done: `would stop mpc-node on ${a.node} (${a.instanceId}) again, as the run found it` };
  const ref = io.journal!.intent('rollback', a);
  const opts = { timeoutS: io.ssmTimeoutS, comment: 'mpc-runbook: rollback docker start' };
  const r = (await runOn(io.ssm, [a.instanceId], stopContainerScript(guarded), opts)).get(a.instanceId);
  if (r?.status === 'Success') {
    io.journal!.done(ref, {});
    if (r.stdout.includes('already=')) return { nothing: `${a.node}: mpc-node is already stopped` };
    return { done: `stopped mpc-node on ${a.node} (${a.instanceId}) again` };
  }
  io.journal!.failed(ref, new Error(describeOutcome(r)));
  if (r?.exitCode === 5) return { refused: `${a.node}: ${r.stderr.trim()} (--force ${a.node} to stop it anyway)` };
  throw new Error(`${a.node}: ${describeOutcome(r)}`);
}

export const rollBack = (a: JournalAction, io: RollbackIO): Promise<ItemOutcome> =>
  a.kind === 'restore-secret-version'
    ? secretBack(a, io)
    : a.kind === 'restore-node-file'
      ? fileBack(a, io)
      : a.kind === 'stop-container'
        ? containerBack(a, io)
        : Promise.resolve({ nothing: `${a.kind}: not a rollback action` });
