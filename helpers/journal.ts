/**
 * The journal: every write the runbook makes is recorded before it happens (what it will replace)
 * and after (what it became), one JSON object per line, fsync'd, redacted. Rollback reads it back.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { redactor } from './redact.ts';

export type JournalAction =
  | { kind: 'put-secret'; secretName: string; replacedVersionId: string | null; token: string; publicKey: string }
  | {
      kind: 'rematerialise-node-secrets';
      instanceId: string;
      node: string;
      backupPath: string;
      accountPublicKey: string;
      p2pPublicKey: string;
    }
  | { kind: 'restore-secret-version'; secretName: string; toVersionId: string; fromVersionId: string }
  | { kind: 'restore-node-file'; instanceId: string; node: string; backupPath: string; writtenSha256?: string }
  /** docker start mpc-node on a node whose container was stopped (replacedState: exited, created). */
  | { kind: 'start-container'; instanceId: string; node: string; replacedState: string }
  /** Rollback of a start: docker stop mpc-node, only while it runs since the start the run made. */
  | { kind: 'stop-container'; instanceId: string; node: string; startedAt?: string };

export interface JournalEntry {
  seq: number;
  at: string;
  runId: string;
  step: string;
  /** interrupted: the run was stopped with this write in flight — its outcome is unknown. */
  phase: 'intent' | 'done' | 'failed' | 'interrupted';
  ref: number; // seq of the intent this entry completes
  action: JournalAction;
  result?: Record<string, unknown>;
  error?: string;
}

export interface Journal {
  path: string;
  intent(step: string, action: JournalAction): number;
  done(ref: number, result: Record<string, unknown>): void;
  failed(ref: number, error: unknown): void;
}

/** What a journal action writes: the secret, or the instance whose files it changes. */
export const journalTarget = (a: JournalAction): string => ('secretName' in a ? a.secretName : a.instanceId);

export function openJournal(dir: string, runId: string): Journal {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${runId}.jsonl`);
  // Every step of a run appends to the same file: sequence numbers (and so refs) go on from the
  // last entry, so an outcome can never be matched to another step's intent.
  let seq = existsSync(path) ? Math.max(0, ...readJournal(path).map((e) => e.seq)) : 0;
  const intents = new Map<number, JournalEntry>();
  const append = (e: JournalEntry) => {
    const fd = openSync(path, 'a', 0o600);
    try {
      writeSync(fd, `${redactor.redact(JSON.stringify(e))}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  };
  return {
    path,
    intent(step, action) {
      const e: JournalEntry = {
        seq: ++seq,
        at: new Date().toISOString(),
        runId,
        step,
        phase: 'intent',
        ref: seq,
        action,
      };
      intents.set(e.seq, e);
      append(e);
      return e.seq;
    },
    done(ref, result) {
      const i = intents.get(ref)!;
      append({ ...i, seq: ++seq, at: new Date().toISOString(), phase: 'done', ref, result });
    },
    failed(ref, error) {
      const i = intents.get(ref)!;
      append({
        ...i,
        seq: ++seq,
        at: new Date().toISOString(),
        phase: 'failed',
        ref,
        error: redactor.redactError(error).message,
      });
    },
  };
}

export function readJournal(path: string): JournalEntry[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JournalEntry);
}

/** Intents with no outcome yet, marked interrupted (appended by the process that stopped the run). */
export function appendInterrupted(path: string, signal: string): JournalEntry[] {
  const entries = readJournal(path);
  const settled = new Set(entries.filter((e) => e.phase !== 'intent').map((e) => e.ref));
  const open = entries.filter((e) => e.phase === 'intent' && !settled.has(e.seq));
  let seq = Math.max(0, ...entries.map((e) => e.seq));
  const fd = openSync(path, 'a', 0o600);
  try {
    for (const i of open) {
      const e = { ...i, seq: ++seq, at: new Date().toISOString(), phase: 'interrupted', ref: i.seq, error: signal };
      writeSync(fd, `${redactor.redact(JSON.stringify(e))}\n`);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return open;
}

/** The exact inverse of a fix run, newest write first; intents without an outcome are reported, not guessed. */
export function planRollback(entries: JournalEntry[]): { actions: JournalAction[]; unknown: JournalEntry[] } {
  const outcome = new Map(entries.filter((e) => e.phase !== 'intent').map((e) => [e.ref, e]));
  const actions: JournalAction[] = [];
  const unknown: JournalEntry[] = [];
  for (const e of entries.filter((x) => x.phase === 'intent').reverse()) {
    const o = outcome.get(e.seq);
    if (!o || o.phase === 'interrupted') {
      unknown.push(e);
      continue;
    }
    if (o.phase !== 'done') continue;
    const a = e.action;
    if (a.kind === 'put-secret' && a.replacedVersionId) {
      actions.push({
        kind: 'restore-secret-version',
        secretName: a.secretName,
        toVersionId: a.replacedVersionId,
        fromVersionId: String(o.result?.versionId),
      });
    } else if (a.kind === 'rematerialise-node-secrets' && o.result?.backedUp) {
      const written = typeof o.result?.after === 'string' ? { writtenSha256: o.result.after } : {};
      actions.push({
        kind: 'restore-node-file',
        instanceId: a.instanceId,
        node: a.node,
        backupPath: a.backupPath,
        ...written,
      });
    } else if (a.kind === 'start-container' && o.result?.started === true) {
      const since = typeof o.result.startedAt === 'string' ? { startedAt: o.result.startedAt } : {};
      actions.push({ kind: 'stop-container', instanceId: a.instanceId, node: a.node, ...since });
    }
  }
  return { actions, unknown };
}
