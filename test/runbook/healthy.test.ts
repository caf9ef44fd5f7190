import { ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { describe, expect, test } from 'vitest';
import type { Twin } from '../../twin/start.ts';
import { leakedSecrets, runbook, snapshot, workspace } from './runbook-runs.ts';
import { twinAwsConfig, useTwin } from '../twin-fixture.ts';

/** The comments of the SSM commands sent so far (the runbook names each command by what it asks). */
async function ssmCommandComments(twin: Twin): Promise<string[]> {
  const ssm = new SSMClient(twinAwsConfig(twin));
  const out = await ssm.send(new ListCommandsCommand({ MaxResults: 50 }));
  return (out.Commands ?? []).map((c) => c.Comment ?? '');
}

describe('runbook on healthy', () => {
  const started = useTwin('healthy');
  const ws = workspace();

  test('gate is green; fix writes nothing', async () => {
    const twin = started();
    const before = snapshot(twin);
    const gate = await runbook(twin, 'gate', ws);
    expect(gate.code, gate.output.slice(-3000)).toBe(0);
    expect(gate.output).toContain('Runbook gate: GREEN');
    // One observation per gate: 03 (containers up) and 04 (AccessKeyNotFound since the start) share one command.
    const comments = await ssmCommandComments(twin);
    expect(comments.filter((c) => c === 'mpc-runbook: container status')).toHaveLength(1);
    const fix = await runbook(twin, 'fix', ws);
    expect(fix.code, fix.output.slice(-3000)).toBe(0);
    expect(ws.journals()).toEqual([]);
    expect(snapshot(twin)).toEqual(before);
    expect(leakedSecrets(twin, gate.output + fix.output + ws.artifacts())).toEqual([]);
  });
});
