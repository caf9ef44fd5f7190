/**
 * Secrets never leave: every scenario in every mode, and everything the run wrote (stdout, stderr,
 * the step summary, JUnit, the journal, the run state) is scanned for every secret of the scenario —
 * raw, JSON-escaped and base64. The verdicts are asserted too, so the runs really did their work
 * (a gate that read nothing would leak nothing).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { scenarioSecrets } from '../../twin/scenario.ts';
import { leakedSecrets, runbook, snapshot, workspace } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';

const scenarios = readdirSync(join(import.meta.dirname, '..', '..', 'fixtures', 'scenarios'))
  .map((f) => f.replace(/\.json$/, ''))
  .sort();

describe('the scan', () => {
  const started = useTwin('healthy', { waitForRunning: false });
  test('finds a secret when one is there (it can fail)', () => {
    const twin = started();
    const secret = scenarioSecrets(twin.scenario)[0]!;
    expect(leakedSecrets(twin, `… ${secret} …`)).not.toEqual([]);
    expect(leakedSecrets(twin, JSON.stringify({ v: Buffer.from(secret).toString('base64') }))).not.toEqual([]);
  });
});

describe.for(scenarios)('%s: gate, plan and fix leak no secret', (scenario) => {
  const started = useTwin(scenario);
  const seen: string[] = [];

  test('gate', async () => {
    const twin = started();
    const ws = workspace();
    const r = await runbook(twin, 'gate', ws);
    seen.push(r.output, ws.artifacts());
    expect(r.code).toBe(scenario === 'healthy' ? 0 : 1);
    expect(leakedSecrets(twin, r.output + ws.artifacts())).toEqual([]);
  });

  test('plan (writes nothing)', async () => {
    const twin = started();
    const ws = workspace();
    const before = snapshot(twin);
    const r = await runbook(twin, 'plan', ws);
    seen.push(r.output, ws.artifacts());
    expect(r.code).toBe(scenario === 'healthy' ? 0 : 1);
    if (scenario !== 'healthy') expect(r.output).toMatch(/\[plan\]/);
    expect(snapshot(twin)).toEqual(before);
    expect(ws.journals()).toEqual([]);
    expect(leakedSecrets(twin, r.output + ws.artifacts())).toEqual([]);
  });

  test('fix (repairs)', async () => {
    const twin = started();
    const ws = workspace();
    const r = await runbook(twin, 'fix', ws);
    seen.push(r.output, ws.artifacts());
    expect(r.code, r.output.slice(-2000)).toBe(0);
    if (scenario !== 'healthy') expect(ws.journals().length).toBe(1);
    expect(leakedSecrets(twin, r.output + ws.artifacts())).toEqual([]);
  });

  test('everything the three runs wrote was read by the scan', () => {
    expect(seen.join('').length).toBeGreaterThan(3000);
    expect(seen.join('')).toContain('<testsuites'); // JUnit
    expect(seen.join('')).toContain('## mpc-runbook'); // step summary
  });
});
