/**
 * Target twin: the runbook starts the twin itself and reaches the same verdicts as against the twin's
 * endpoints.
 */
import { describe, expect, test } from 'vitest';
import { runScript, workspace } from './runbook-runs.ts';

describe('RUNBOOK_TARGET=twin', () => {
  test.for([
    ['healthy', 0],
    ['incident-key-mismatch', 1],
  ] as const)('gate on %s exits %i', async ([scenario, code]) => {
    const ws = workspace();
    const r = await runScript('runbook.ts', ['gate'], {
      ...ws.env,
      RUNBOOK_TARGET: 'twin',
      RUNBOOK_SCENARIO: scenario,
      RUNBOOK_TWIN_BLOCK_MS: '150',
    });
    expect(r.code, r.output.slice(-2000)).toBe(code);
    expect(r.output).toContain(`Runbook gate: ${code === 0 ? 'GREEN' : 'RED'}`);
  });

  test('a twin that cannot start (misspelt scenario) is a red 00-preflight naming why; nothing else runs', async () => {
    const ws = workspace();
    const r = await runScript('runbook.ts', ['gate'], {
      ...ws.env,
      RUNBOOK_TARGET: 'twin',
      RUNBOOK_SCENARIO: 'helthy',
    });
    expect(r.code, r.output.slice(-2000)).toBe(1);
    expect(r.output).toContain('Runbook gate: RED');
    expect(r.output).toMatch(
      /✗ 00-preflight {2}prerequisites hold\n +the embedded twin did not start: scenario "helthy" could not be read/,
    );
    expect(r.output).toMatch(/01-keys-match +skipped \(skipped: 00-preflight failed earlier/);
  });
});
