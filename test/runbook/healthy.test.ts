import { describe, expect, test } from 'vitest';
import { leakedSecrets, runbook, snapshot, workspace } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';

describe('runbook on healthy', () => {
  const started = useTwin('healthy');
  const ws = workspace();

  test('gate is green; fix writes nothing', async () => {
    const twin = started();
    const before = snapshot(twin);
    const gate = await runbook(twin, 'gate', ws);
    expect(gate.code, gate.output.slice(-3000)).toBe(0);
    expect(gate.output).toContain('Runbook gate: GREEN');
    const fix = await runbook(twin, 'fix', ws);
    expect(fix.code, fix.output.slice(-3000)).toBe(0);
    expect(ws.journals()).toEqual([]);
    expect(snapshot(twin)).toEqual(before);
    expect(leakedSecrets(twin, gate.output + fix.output + ws.artifacts())).toEqual([]);
  });
});
