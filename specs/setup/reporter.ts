/**
 * The runbook's report: each claim as it ends (with what its fix-up would do, did, or saw while
 * waiting, beside its node), then per step passed / failed / skipped (and why), what the run checked,
 * the known failures it matched (docs/failure-modes.md), what it wrote (the journal and how to undo it),
 * and the next command. A run that covered only some steps says so and is not a verdict on the Layer 3.
 * A step that did not load and an error outside any claim are red lines with their error, never a gap.
 * Everything printed is redacted. Also fills the GitHub step summary when GITHUB_STEP_SUMMARY is set.
 */
import { appendFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestAnnotation, UserConsoleLog } from 'vitest';
import type { Reporter, SerializedError, TestCase, TestModule, TestRunEndReason, TestSpecification } from 'vitest/node';
import { CATALOGUE_DOC, catalogueLine, knownFailures } from '../../helpers/catalogue.ts';
import { currentMode, nextCommand } from '../../helpers/harness/mode.ts';
import { RUN_STEPS, type RunStepsHolder } from '../../helpers/harness/run-state.ts';
import { redactor } from '../../helpers/redact.ts';
import { targetOf } from '../../helpers/target.ts';

interface Line {
  step: string;
  name: string;
  state: string;
  note?: string;
  annotations: { type: string; message: string }[];
  errors: string[];
}

const SPECS = join(import.meta.dirname, '..');
const ALL_STEPS = readdirSync(SPECS)
  .filter((f) => f.endsWith('.spec.ts'))
  .map((f) => f.replace('.spec.ts', ''))
  .sort();
const stepOfFile = (moduleId: string) => moduleId.split('/').pop()!.replace('.spec.ts', '');
const stepOf = (test: TestCase) => stepOfFile(test.module.moduleId);
const out = (text: string) => process.stdout.write(redactor.redact(text));

/** The claim a step's own errors are reported under (its file did not load, or its hooks failed). */
const STEP_ITSELF = 'the step runs (its file loads, its hooks pass)';

/** Vitest hands skip notes and error messages over with their double quotes escaped. */
const unescaped = (s: string) => s.replace(/\\"/g, '"');

/** A Markdown table cell: pipes escaped. */
const cell = (s: string) => s.replace(/\|/g, '\\|');

/** One claim as a row of the GitHub step summary. */
function summaryRow(l: Line): string {
  const note = l.note ? ` — ${l.note}` : '';
  const error = l.errors[0] ? ` — ${cell(l.errors[0].split('\n')[0]!)}` : '';
  return `| ${l.step} | ${cell(l.name)} | ${l.state}${note}${error} |`;
}

/** An error outside any claim, in one line, with the first place in this project it passed through. */
function errorText(e: SerializedError): string {
  const ours = (l: string) => /(\(|at )(file:\/\/)?\/[^\s()]+:\d+:\d+\)?$/.test(l) && !l.includes('/node_modules/');
  const where = e.stack
    ?.split('\n')
    .slice(1)
    .find(ours)
    ?.trim()
    .replace(/\?vitest=\d+/, '');
  return redactor.redact(
    `${e.name ?? 'Error'}: ${unescaped(e.message.split('\n')[0] ?? '')}${where ? ` (${where})` : ''}`,
  );
}

function stepLine(step: string, ls: Line[]): string {
  const count = (st: string) => ls.filter((l) => l.state === st).length;
  const why = ls.find((l) => l.state === 'skipped' && l.note)?.note;
  if (ls.length && count('skipped') === ls.length) return `  ${step.padEnd(22)} skipped (${why ?? 'no claim ran'})`;
  const counts = `${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped`;
  return `  ${step.padEnd(22)} ${counts}${why ? ` (${why})` : ''}`;
}

/** What the run wrote, from its journal (only a run that wrote has one). */
function journalOfThisRun(): string | undefined {
  const runId = process.env.RUNBOOK_RUN_ID;
  const path = join(process.env.RUNBOOK_JOURNAL_DIR || '.runbook/journal', `${runId}.jsonl`);
  return runId && existsSync(path) ? path : undefined;
}

/** The catalogue entries the run's red claims and warnings match (docs/failure-modes.md has their rows). */
function catalogueLines(lines: Line[], green: boolean): string[] {
  const said = {
    failures: lines.filter((l) => l.state === 'failed').flatMap((l) => l.errors),
    warnings: lines.flatMap((l) => l.annotations.filter((a) => a.type === 'warning').map((a) => a.message)),
  };
  const known = knownFailures(said).map(catalogueLine);
  if (known.length || green) return known;
  return [`Known failure: none matched (${CATALOGUE_DOC} lists the failures the runbook names)`];
}

export default class RunbookReporter implements Reporter {
  private lines: Line[] = [];
  private started = 0;

  onTestRunStart(specifications: ReadonlyArray<TestSpecification>) {
    // The steps this run covers, for the global setup to hand to the steps (it runs next, in this process).
    (globalThis as RunStepsHolder)[RUN_STEPS] = specifications.map((s) => stepOfFile(s.moduleId)).join(',');
    this.started = Date.now();
    this.lines = [];
    this.seen.clear();
  }

  private seen = new Set<string>();

  onTestCaseResult(test: TestCase) {
    if (this.seen.has(test.id)) return; // an aborted run reports its remaining claims twice
    this.seen.add(test.id);
    const r = test.result();
    this.report({
      step: stepOf(test),
      name: test.name,
      state: r.state,
      ...('note' in r && r.note ? { note: unescaped(r.note) } : {}),
      annotations: test.annotations().map((a) => ({ type: a.type, message: redactor.redact(a.message) })),
      errors: (r.errors ?? []).map((e) => redactor.redact(unescaped(e.message.split('\n\n')[0] ?? e.message))),
    });
  }

  /**
   * A step whose file does not load (a syntax error, a missing module, a throw at import) or whose own hooks
   * fail has no claim to carry the error: it is a red claim of its own, so the run is red for a reason it names.
   */
  onTestModuleEnd(module: TestModule) {
    const errors = module.errors();
    if (!errors.length) return;
    this.report({
      step: stepOfFile(module.moduleId),
      name: STEP_ITSELF,
      state: 'failed',
      annotations: [],
      errors: errors.map(errorText),
    });
  }

  private report(line: Line) {
    this.lines.push(line);
    const mark = line.state === 'passed' ? '✓' : line.state === 'failed' ? '✗' : '↓';
    const note = line.state === 'skipped' && line.note ? `  — ${line.note}` : '';
    out(`  ${mark} ${line.step}  ${line.name}${note}\n`);
    if (line.state === 'failed') for (const e of line.errors) out(`      ${e.replace(/\n/g, '\n      ')}\n`);
  }

  /** What a fix-up would do (plan), did (fix), or saw while waiting (progress), beside its claim. */
  onTestCaseAnnotate(test: TestCase, a: TestAnnotation) {
    if (!['plan', 'fix', 'progress', 'warning', 'notice'].includes(a.type)) return;
    const who = test.name.split(':')[0]!;
    // A message that already names its node is not prefixed with it twice.
    const message = a.message.startsWith(`${who}: `) ? a.message.slice(who.length + 2) : a.message;
    out(`      [${a.type}] ${stepOf(test).slice(0, 2)} ${who}: ${message.replace(/\n/g, '\n        ')}\n`);
  }

  onUserConsoleLog(log: UserConsoleLog) {
    out(log.content);
  }

  onTestRunEnd(
    modules: ReadonlyArray<TestModule>,
    unhandled: ReadonlyArray<SerializedError> = [],
    reason: TestRunEndReason = 'passed',
  ) {
    const covered = ALL_STEPS.filter((s) => this.lines.some((l) => l.step === s));
    const partial = covered.length < ALL_STEPS.length;
    const outside = unhandled.map(errorText);
    // Vitest says 'failed' also when the run stopped before any step (its set-up threw): never GREEN then.
    const stoppedEarly = reason === 'failed' && !this.lines.length && !outside.length;
    const failed =
      stoppedEarly ||
      this.lines.some((l) => l.state === 'failed') ||
      modules.some((m) => !m.ok()) ||
      outside.length > 0;
    const skipped = this.lines.some((l) => l.state === 'skipped');
    const green = !failed && !skipped;
    const verdict = failed ? 'RED' : skipped ? 'INCOMPLETE' : partial ? 'GREEN (partial)' : 'GREEN';
    const mode = currentMode();
    const seconds = ((Date.now() - this.started) / 1000).toFixed(1);
    const report = ['', `Runbook ${mode}: ${verdict} in ${seconds} s`];
    for (const s of covered)
      report.push(
        stepLine(
          s,
          this.lines.filter((l) => l.step === s),
        ),
      );
    if (outside.length)
      report.push(`Errors outside any step (the run is red for them):`, ...outside.map((e) => `  ${e}`));
    if (stoppedEarly) report.push('No step ran: the run stopped in its set-up (its error follows this report).');
    else report.push(...catalogueLines(this.lines, green));
    if (partial && !stoppedEarly) {
      report.push(
        `Partial run: ${covered.length} of ${ALL_STEPS.length} steps (${covered.join(', ') || 'none'}); ` +
          'this is not a verdict on the Layer 3.',
      );
    }
    report.push(`Checked: ${targetOf(process.env).says}`);
    const journal = journalOfThisRun();
    if (journal) report.push(`Wrote: every write is in ${journal}; undo exactly with: npm run rollback -- ${journal}`);
    const preflightRed = this.lines.some((l) => l.step === '00-preflight' && l.state === 'failed');
    const next = stoppedEarly
      ? 'mend the set-up error below, then run again'
      : nextCommand({ green, preflightRed, partial });
    report.push(`Next: ${next}`, '');
    out(`${report.join('\n')}\n`);
    if (!green && process.exitCode === undefined) process.exitCode = 1;
    if (process.env.GITHUB_STEP_SUMMARY) {
      const md = [`## mpc-runbook ${mode}: ${verdict}`, '', '| step | claim | result |', '|---|---|---|'];
      md.push(...this.lines.map(summaryRow), '', ...report.slice(2 + covered.length, -2), `Next: \`${next}\``, '');
      appendFileSync(process.env.GITHUB_STEP_SUMMARY, redactor.redact(md.join('\n')));
    }
  }
}
