/**
 * Secrets never leave: every scenario in every mode, and everything the run wrote (stdout, stderr,
 * the step summary, JUnit, the journal, the run state) is scanned for every secret of the scenario —
 * raw, JSON-escaped and base64. The verdicts are asserted too (a table per scenario, below), so the runs
 * really did their work (a gate that read nothing would leak nothing).
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

/** What a scenario's runs end with: the gate's verdict, and what fix does (see docs/failure-modes.md). */
interface Expected {
  gate: 'green' | 'red';
  /** repairs: plan announces writes, fix writes and exits 0; refuses: neither writes, fix exits red;
   * nothing: nothing to write, fix exits 0; repairs-then-red: plan announces writes, fix writes what it can
   * and exits red on what it cannot; undefined: fix runs (its outputs are scanned), unjudged. */
  fix?: 'repairs' | 'refuses' | 'nothing' | 'repairs-then-red';
  /** Configuration for the fix run. */
  fixEnv?: Record<string, string>;
}

const REPAIRS: Expected = { gate: 'red', fix: 'repairs' };
const REFUSES: Expected = { gate: 'red', fix: 'refuses' };
const EXPECTED: Record<string, Expected> = {
  healthy: { gate: 'green', fix: 'nothing' },
  'manifest-suffix-drift': { gate: 'green', fix: 'nothing' },
  'incident-key-mismatch': REPAIRS,
  'stale-node-secrets': REPAIRS,
  'placeholder-secret': REPAIRS,
  'json-wrapped-secret': REPAIRS,
  'secret-with-trailing-newline': REPAIRS,
  'secret-without-prefix': REPAIRS,
  'p2p-secret-mismatch': REPAIRS,
  'contract-not-initialised': REFUSES,
  'contract-missing': REFUSES,
  'fc-key-wrong-methods': REFUSES,
  'fc-key-allowance-exhausted': REFUSES,
  'node-account-broke': REFUSES,
  // 04 waits for Running, which nothing brings without a domain vote: keep that wait short.
  'no-domain': REFUSES,
  // Still Initializing once the keys are right (issue 12): named at 03/04, repaired only where the runbook can.
  'p2p-port-collision': REFUSES,
  'incident-as-deployed': { gate: 'red', fix: 'repairs-then-red' },
  'base-ip-changed': REFUSES,
  'node-not-attested': REFUSES,
  'one-node-down': REPAIRS,
  'indexer-behind': REFUSES,
};
/**
 * The default for a scenario this table does not know yet (one another branch adds): gate red, plan writes
 * nothing, and no expectation of fix — its run is scanned all the same, with short waits for health and
 * Running. Give it a row once its verdicts are known.
 */
const UNKNOWN: Expected = { gate: 'red', fixEnv: { RUNBOOK_RUNNING_TIMEOUT_S: '10', RUNBOOK_HEALTH_TIMEOUT_S: '20' } };

const ANNOUNCES_WRITES = /\[plan\] 0[23] /;

describe.for(scenarios)('%s: gate, plan and fix leak no secret', (scenario) => {
  const started = useTwin(scenario);
  const expected = EXPECTED[scenario] ?? UNKNOWN;
  const code = expected.gate === 'green' ? 0 : 1;
  const seen: string[] = [];

  test(`gate (${expected.gate})`, async () => {
    const twin = started();
    const ws = workspace();
    const r = await runbook(twin, 'gate', ws);
    seen.push(r.output, ws.artifacts());
    expect(r.code, r.output.slice(-2000)).toBe(code);
    expect(leakedSecrets(twin, r.output + ws.artifacts())).toEqual([]);
  });

  test('plan (writes nothing)', async () => {
    const twin = started();
    const ws = workspace();
    const before = snapshot(twin);
    const r = await runbook(twin, 'plan', ws);
    seen.push(r.output, ws.artifacts());
    expect(r.code, r.output.slice(-2000)).toBe(code);
    if (expected.fix === 'repairs' || expected.fix === 'repairs-then-red') expect(r.output).toMatch(ANNOUNCES_WRITES);
    if (expected.fix === 'refuses' || expected.fix === 'nothing') expect(r.output).not.toMatch(ANNOUNCES_WRITES);
    expect(snapshot(twin)).toEqual(before);
    expect(ws.journals()).toEqual([]);
    expect(leakedSecrets(twin, r.output + ws.artifacts())).toEqual([]);
  });

  test(`fix (${expected.fix ?? 'not judged: a scenario this table does not know yet'})`, async () => {
    const twin = started();
    const ws = workspace();
    const before = snapshot(twin);
    const r = await runbook(twin, 'fix', ws, expected.fixEnv);
    seen.push(r.output, ws.artifacts());
    if (expected.fix === 'repairs' || expected.fix === 'repairs-then-red') {
      expect(r.code, r.output.slice(-2000)).toBe(expected.fix === 'repairs' ? 0 : 1);
      expect(ws.journals().length).toBe(1);
    }
    if (expected.fix === 'refuses' || expected.fix === 'nothing') {
      expect(r.code, r.output.slice(-2000)).toBe(expected.fix === 'refuses' ? 1 : 0);
      expect(snapshot(twin)).toEqual(before);
      expect(ws.journals()).toEqual([]);
    }
    expect(leakedSecrets(twin, r.output + ws.artifacts())).toEqual([]);
  });

  test('everything the three runs wrote was read by the scan', () => {
    expect(seen.join('').length).toBeGreaterThan(3000);
    expect(seen.join('')).toContain('<testsuites'); // JUnit
    expect(seen.join('')).toContain('## mpc-runbook'); // step summary
  });
});
