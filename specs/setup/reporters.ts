/** The runbook's reporters: its own report and a JUnit file (RUNBOOK_JUNIT_FILE). */
export const runbookReporters = (): [string, Record<string, unknown>][] => [
  ['./specs/setup/reporter.ts', {}],
  ['junit', { outputFile: process.env.RUNBOOK_JUNIT_FILE ?? '.vitest/junit/output.xml', includeConsoleOutput: false }],
];
