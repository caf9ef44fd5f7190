/**
 * The runbook's end-of-run report: per step passed / failed / skipped (and why), the evidence and
 * diagnosis attached to each claim, and the next command to run. Everything printed is redacted.
 * Also fills the GitHub step summary when GITHUB_STEP_SUMMARY is set.
 */
import { appendFileSync } from 'node:fs';
import type { TestAnnotation, UserConsoleLog } from 'vitest';
import type { Reporter, TestCase, TestModule } from 'vitest/node';
import { currentMode, nextCommand } from '../../helpers/harness/mode.ts';
import { redactor } from '../../helpers/redact.ts';

/** A Markdown table cell: pipes escaped. */
const cell = (s: string) => s.replace(/\|/g, '\\|');

/** One claim as a row of the GitHub step summary. */
function summaryRow(l: Line): string {
  const note = l.note ? ` — ${l.note}` : '';
  const error = l.errors[0] ? ` — ${cell(l.errors[0].split('\n')[0]!)}` : '';
  return `| ${l.step} | ${cell(l.name)} | ${l.state}${note}${error} |`;
}

interface Line {
  step: string;
  name: string;
  state: string;
  note?: string;
  annotations: { type: string; message: string }[];
  errors: string[];
}

export default class RunbookReporter implements Reporter {
  private lines: Line[] = [];
  private started = 0;

  onTestRunStart() {
    this.started = Date.now();
    this.lines = [];
    process.stdout.write(`\nmpc-runbook — mode ${currentMode()}\n`);
  }

  onTestCaseResult(test: TestCase) {
    const r = test.result();
    const step = test.module.moduleId.split('/').pop()!.replace('.spec.ts', '');
    const line: Line = {
      step,
      name: test.name,
      state: r.state,
      ...('note' in r && r.note ? { note: r.note } : {}),
      annotations: test.annotations().map((a) => ({ type: a.type, message: redactor.redact(a.message) })),
      errors: (r.errors ?? []).map((e) => redactor.redact(e.message.split('\n\n')[0] ?? e.message)),
    };
    this.lines.push(line);
    const mark = r.state === 'passed' ? '✓' : r.state === 'failed' ? '✗' : '↓';
    process.stdout.write(
      `  ${mark} ${step}  ${test.name}${r.state === 'skipped' && r.note ? `  — ${redactor.redact(r.note)}` : ''}\n`,
    );
    if (r.state === 'failed') {
      for (const e of line.errors) process.stdout.write(`      ${e.replace(/\n/g, '\n      ')}\n`);
    }
  }

  /** What a fix-up would do (plan), did (fix), or saw while waiting (progress), beside its claim. */
  onTestCaseAnnotate(test: TestCase, a: TestAnnotation) {
    if (!['plan', 'fix', 'progress', 'warning'].includes(a.type)) return;
    const step = test.module.moduleId.split('/').pop()!.slice(0, 2);
    const who = test.name.split(':')[0];
    const text = redactor.redact(a.message).replace(/\n/g, '\n        ');
    process.stdout.write(`      [${a.type}] ${step} ${who}: ${text}\n`);
  }

  onUserConsoleLog(log: UserConsoleLog) {
    process.stdout.write(redactor.redact(log.content));
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>) {
    const steps = [...new Set(this.lines.map((l) => l.step))];
    const verdict = this.lines.some((l) => l.state === 'failed') || modules.some((m) => !m.ok()) ? 'RED' : 'GREEN';
    const mode = currentMode();
    const out: string[] = ['', `Runbook ${mode}: ${verdict} in ${((Date.now() - this.started) / 1000).toFixed(1)} s`];
    for (const s of steps) {
      const ls = this.lines.filter((l) => l.step === s);
      const count = (st: string) => ls.filter((l) => l.state === st).length;
      const why = ls.find((l) => l.state === 'skipped' && l.note)?.note;
      const counts = `${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped`;
      out.push(`  ${s.padEnd(22)} ${counts}${why ? ` (${why})` : ''}`);
    }
    const preflightRed = this.lines.some((l) => l.step === '00-preflight' && l.state === 'failed');
    const next = nextCommand({ green: verdict === 'GREEN', preflightRed, partial: false });
    out.push(`Next: ${next}`, '');
    process.stdout.write(`${redactor.redact(out.join('\n'))}\n`);
    if (process.env.GITHUB_STEP_SUMMARY) {
      const md = [
        `## mpc-runbook ${mode}: ${verdict}`,
        '',
        '| step | claim | result |',
        '|---|---|---|',
        ...this.lines.map(summaryRow),
        '',
        `Next: \`${next}\``,
        '',
      ];
      appendFileSync(process.env.GITHUB_STEP_SUMMARY, redactor.redact(md.join('\n')));
    }
  }
}
