import { ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { describe, expect, test } from 'vitest';
import type { Twin } from '../../twin/start.ts';
import { leakedSecrets, runbook, snapshot, specFileReadsAs, workspace } from './runbook-runs.ts';
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

  test('a step file that does not load is a red step that names its error, not a partial run', async () => {
    const broken = await runbook(
      started(),
      'gate',
      ws,
      specFileReadsAs(ws, '03-nodes-healthy.spec.ts', 'const x = ;\n'),
    );
    expect(broken.code).toBe(1);
    expect(broken.output).toContain('Runbook gate: RED');
    expect(broken.output).toMatch(
      /✗ 03-nodes-healthy {2}the step runs \(its file loads, its hooks pass\)\n +SyntaxError: /,
    );
    expect(broken.output).toMatch(/03-nodes-healthy +0 passed, 1 failed/);
    expect(broken.output).not.toContain('Partial run');
  });

  test('an error thrown outside any claim turns the run red, and the report prints it', async () => {
    const step03 = [
      "import { test } from 'vitest';",
      "setTimeout(() => Promise.reject(new Error('thrown outside any claim')), 0);",
      "test('waits a moment', () => new Promise((ok) => setTimeout(ok, 200)));",
    ].join('\n');
    const r = await runbook(started(), 'gate', ws, specFileReadsAs(ws, '03-nodes-healthy.spec.ts', step03));
    expect(r.code).toBe(1);
    expect(r.output).toContain('Runbook gate: RED');
    expect(r.output).toMatch(
      /Errors outside any step \(the run is red for them\):\n +Error: thrown outside any claim \(at /,
    );
  });

  test('a set-up that throws before any step is RED with its error, never GREEN', async () => {
    const setup = "export default async function () { throw new Error('the set-up broke'); }\n";
    const r = await runbook(started(), 'gate', ws, specFileReadsAs(ws, 'setup/global-setup.ts', setup));
    expect(r.code).toBe(1);
    expect(r.output).toContain('Runbook gate: RED');
    expect(r.output).toContain('No step ran: the run stopped in its set-up (its error follows this report).');
    expect(r.output).toContain('Set-up error: the set-up broke');
    expect(r.output).not.toContain('GREEN');
  });
});
