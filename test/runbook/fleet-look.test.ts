/**
 * The run's one look at the fleet (the NEAR base probe and the container status command) goes out during
 * 00, as soon as the instances are online in the expected account, so its SSM delivery overlaps the rest
 * of the preflight — and only then: never before the caller's account is confirmed, never in a run without
 * 01 (a 00-only run sends no command at all).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { startTraceProxy, type TraceProxy, type TracedCall } from '../../bench/trace.ts';
import type { Twin } from '../../twin/start.ts';
import { useTwin } from '../twin-fixture.ts';
import { runScript, workspace } from './runbook-runs.ts';

const PROBE = 'mpc-runbook: node /health and /public_data';
const CONTAINERS = 'mpc-runbook: container status';

let proxies: TraceProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  proxies = [];
});

/** A gate (optionally of some steps only) through trace proxies: its exit code, output and every call it made. */
async function tracedGate(twin: Twin, steps: string[] = [], extra: Record<string, string> = {}) {
  const calls: TracedCall[] = [];
  proxies = [await startTraceProxy(twin.rpcUrl, calls), await startTraceProxy(twin.awsUrl, calls)];
  const env = { ...twin.env, ...workspace().env, NEAR_RPC_URL: proxies[0]!.url, AWS_ENDPOINT_URL: proxies[1]!.url };
  const run = await runScript('runbook.ts', ['gate', ...steps], { ...env, ...extra });
  return { ...run, calls };
}

const sent = (calls: TracedCall[]) => calls.filter((c) => c.op === 'SendCommand').map((c) => c.comment);
const firstCall = (calls: TracedCall[], op: string) => calls.find((c) => c.op === op);

describe('the fleet look of a gate', () => {
  const started = useTwin('healthy');

  test('goes out in 00, before the contract is asked its version, once per command', async () => {
    const gate = await tracedGate(started());
    expect(gate.code, gate.output.slice(-3000)).toBe(0);
    expect(sent(gate.calls).sort()).toEqual([CONTAINERS, PROBE]);
    const version = firstCall(gate.calls, 'query/call_function:version')!;
    const probe = gate.calls.find((c) => c.comment === PROBE)!;
    expect(probe.start).toBeLessThan(version.start);
  });

  test('is not sent by a run without 01', async () => {
    const gate = await tracedGate(started(), ['00-preflight']);
    expect(gate.code, gate.output.slice(-3000)).toBe(0);
    expect(gate.output).toContain('GREEN (partial)');
    expect(sent(gate.calls)).toEqual([]);
  });

  test('is not sent into an account the run was not told to expect', async () => {
    const gate = await tracedGate(started(), [], { EXPECTED_AWS_ACCOUNT_ID: '999988887777' });
    expect(gate.code).toBe(1);
    expect(gate.output).toContain('EXPECTED_AWS_ACCOUNT_ID is 999988887777');
    expect(firstCall(gate.calls, 'DescribeInstanceInformation')).toBeDefined();
    expect(sent(gate.calls)).toEqual([]);
  });
});
