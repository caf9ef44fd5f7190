/**
 * Guard rails and faults: refuse the wrong account and write nothing; one fix at a time; bursts of 5xx
 * and throttles are absorbed.
 */
import { describe, expect, test } from 'vitest';
import { acquireFixLock } from '../../helpers/aws/fix-lock.ts';
import { ConfigError, loadConfig } from '../../helpers/config.ts';
import { runbook, snapshot, workspace } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';

describe('configuration errors name the variable and what to do', () => {
  const base = { NEAR_RPC_URL: 'http://localhost:3030', MPC_KEYS_FILE: 'k.json', AWS_REGION: 'us-east-1' };
  test.for([
    [{ RUNBOOK_TARGET: 'cloud' }, /RUNBOOK_TARGET: "cloud"/],
    [{ RUNBOOK_MODE: 'yolo' }, /RUNBOOK_MODE: "yolo"/],
    [{ NEAR_RPC_URL: 'localhost' }, /NEAR_RPC_URL: "localhost" must be a URL/],
    [{ RUNBOOK_MODE: 'fix' }, /EXPECTED_AWS_ACCOUNT_ID: is required in fix mode/],
    [{ EXPECTED_AWS_ACCOUNT_ID: '12' }, /EXPECTED_AWS_ACCOUNT_ID: "12" must be a 12-digit/],
  ] as const)('%j', ([env, message]) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });
  test('a missing variable says it is not set', () =>
    expect(() => loadConfig({ AWS_REGION: 'us-east-1' })).toThrow(/NEAR_RPC_URL: is not set/));
});

describe('on the incident twin', () => {
  const startedTwin = useTwin('incident-key-mismatch');

  test('fix refuses another AWS account than the expected one, and writes nothing', async () => {
    const twin = startedTwin();
    const ws = workspace();
    const before = snapshot(twin);
    const r = await runbook(twin, 'fix', ws, { EXPECTED_AWS_ACCOUNT_ID: '999999999999' });
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(
      new RegExp(
        String.raw`the AWS credentials are for account 111122223333 \(arn:aws:[^)]+\), ` +
          'but EXPECTED_AWS_ACCOUNT_ID is 999999999999: switch AWS_PROFILE',
      ),
    );
    expect(r.output).toContain('Next: make 00-preflight pass first');
    expect(snapshot(twin)).toEqual(before);
    expect(ws.journals().flat()).toEqual([]);
  });

  test(
    'a second fix run while one holds the lock refuses and names the holder; an expired lock is ' + 'taken over',
    async () => {
      const twin = startedTwin();
      const env = { ...twin.env };
      const first = await acquireFixLock(env, 'run-one');
      await expect(acquireFixLock(env, 'run-two')).rejects.toThrow(/another fix run holds the lock: run run-one/);
      const ws = workspace();
      const r = await runbook(twin, 'fix', ws);
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(
        /fix refused: another fix run holds the lock: run run-one on .* until .*npm run unlock -- run-one/,
      );
      expect(ws.journals()).toEqual([]);
      await first.release();
      const stale = await acquireFixLock(env, 'crashed-run', -1); // already expired
      void stale;
      const taken = await acquireFixLock(env, 'run-three');
      await taken.release();
    },
  );

  test(
    'bursts of RPC 5xx and timeouts and AWS throttling are retried, and the gate still reaches ' + 'its verdict',
    async () => {
      const twin = startedTwin();
      const ws = workspace();
      // Within the budget of 5 attempts per call: 2 × HTTP 500 and 2 requests that never get an answer.
      twin.rpc.faults.failNext5xx = 2;
      twin.rpc.faults.hangNext = 2;
      twin.aws.faults.throttle.push({ service: 'secretsmanager', count: 2 }, { service: 'ssm', count: 2 });
      const r = await runbook(twin, 'gate', ws, { RUNBOOK_RPC_TIMEOUT_S: '1' });
      expect(r.code).toBe(1); // red, for the incident's reasons — not because of the faults
      expect(r.output).toMatch(/01-keys-match +1 passed, 3 failed/);
      expect(r.output).not.toMatch(/Rate exceeded|Internal server error|no answer within/i);
      expect(twin.rpc.faults).toMatchObject({ failNext5xx: 0, hangNext: 0 }); // the faults did happen
    },
  );

  test('a burst longer than the retry budget is a red preflight with the classified reason, not a hang', async () => {
    const twin = startedTwin();
    const ws = workspace();
    twin.rpc.faults.failNext5xx = 20;
    const r = await runbook(twin, 'gate', ws);
    twin.rpc.faults.failNext5xx = 0;
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      new RegExp(
        String.raw`NEAR RPC at http://127\.0\.0\.1:\d+ kept answering HTTP 500 through the retry budget ` +
          String.raw`\(RPC status: Internal server error\)`,
      ),
    );
    expect(r.output).toContain('Next: make 00-preflight pass first');
  });
});
