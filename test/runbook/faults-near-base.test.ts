/**
 * The NEAR base is unreachable: its RPC does not answer and its SSM agent is disconnected (it is
 * also the runbook's vantage point inside the VPC). Fix stops at 00-preflight naming both, writes
 * nothing; once the base is back the same configuration reaches the incident's own verdict.
 */
import { describe, expect, test } from 'vitest';
import { leakedSecrets, runbook, snapshot, workspace } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';

describe('the NEAR base is unreachable', () => {
  const startedTwin = useTwin('incident-key-mismatch');

  test(
    'fix stops at preflight naming the RPC and the instance, writes nothing; when it is back the ' +
      'gate sees the incident',
    async () => {
      const twin = startedTwin();
      const base = twin.nearBase.instanceId;
      const before = snapshot(twin);
      twin.fleet.setPing(base, 'ConnectionLost');
      twin.rpc.faults.hangNext = 1_000; // every request hangs
      const down = workspace();
      const r1 = await runbook(twin, 'fix', down, { RUNBOOK_RPC_TIMEOUT_S: '0.5' });
      expect(r1.code).toBe(1);
      expect(r1.output).toMatch(/NEAR RPC at http:\/\/127\.0\.0\.1:\d+ is unreachable \(ETIMEDOUT\)/);
      expect(r1.output).toContain(`NEAR base (${base}): ConnectionLost`);
      expect(r1.output).toContain('Next: make 00-preflight pass first');
      expect(down.journals()).toEqual([]);
      expect(snapshot(twin)).toEqual(before);

      twin.fleet.setPing(base, 'Online');
      twin.rpc.faults.hangNext = 0;
      const back = workspace();
      const r2 = await runbook(twin, 'gate', back);
      expect(r2.code).toBe(1);
      expect(r2.output).toMatch(/00-preflight +\d+ passed, 0 failed/);
      expect(r2.output).toMatch(/01-keys-match +1 passed, 3 failed/); // the incident itself
      expect(leakedSecrets(twin, r1.output + r2.output + down.artifacts() + back.artifacts())).toEqual([]);
    },
  );
});
