import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTwin, type Twin } from '../../twin/start.ts';
import { leakedSecrets, runbook, snapshot, workspace } from './support.ts';

describe('runbook on healthy', () => {
  let twin: Twin;
  const ws = workspace();
  beforeAll(async () => {
    twin = await startTwin({ scenario: 'healthy', blockTimeMs: 150 });
  });
  afterAll(async () => twin?.stop());

  test('gate is green; fix writes nothing', async () => {
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
