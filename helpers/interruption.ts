/**
 * What an interrupted run had done, said in the main process after the steps were stopped: its
 * journal, the steps that finished (with their verdict), and every write whose outcome was not
 * recorded — appended to the journal as interrupted (outcome unknown: rollback reports it, never
 * guesses).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { appendInterrupted, journalTarget, readJournal } from './journal.ts';
import { readStepOutcomes } from './harness/run-state.ts';

export function interruptionReport(signal: string): string {
  const runId = process.env.RUNBOOK_RUN_ID;
  const lines = [`Interrupted by ${signal}.`];
  if (!runId) return `${lines[0]} Nothing had started.\n`;
  const steps = Object.entries(readStepOutcomes()).map(
    ([s, o]) => `${s} ${o.ok ? 'passed' : o.skipped ? 'skipped' : 'red'}`,
  );
  lines.push(`Steps finished: ${steps.join(', ') || 'none'}.`);
  const journal = join(process.env.RUNBOOK_JOURNAL_DIR || '.runbook/journal', `${runId}.jsonl`);
  if (!existsSync(journal)) {
    lines.push('Nothing was written (no journal).', 'The fix lock, if this run held it, was released.');
    return `${lines.join('\n')}\n`;
  }
  const inFlight = appendInterrupted(journal, signal);
  const writes = readJournal(journal).filter((e) => e.phase === 'done').length;
  lines.push(`Journal: ${journal} (${writes} write(s) done).`);
  for (const e of inFlight) {
    lines.push(
      `In flight when stopped, outcome unknown (check by hand): ${e.step} ${e.action.kind} ${journalTarget(e.action)}`,
    );
  }
  lines.push(`Undo what was done: npm run rollback -- ${journal}`, 'The fix lock this run held was released.');
  return `${lines.join('\n')}\n`;
}
