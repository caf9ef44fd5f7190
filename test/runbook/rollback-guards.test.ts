/**
 * Rollback has fix's guard rails and moves only what is still as the run left it; unlock never
 * releases a live run's lock (issue 11, parts 2 and 3).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { acquireFixLock } from '../../helpers/aws/fix-lock.ts';
import { useTwin } from '../twin-fixture.ts';
import { runbook, runScript, snapshot, workspace } from './runbook-runs.ts';

describe('rollback after a fix, when things changed since', () => {
  const started = useTwin('incident-key-mismatch');

  test('--plan writes nothing; changed items are refused unless named; the rest goes back exactly', async () => {
    const twin = started();
    const incident = snapshot(twin);
    const ws = workspace();
    const fix = await runbook(twin, 'fix', ws);
    expect(fix.code, fix.output.slice(-2000)).toBe(0);
    const [journal] = ws.journals();
    const env = { ...twin.env, ...ws.env };

    // After the run: a person writes node 0's secret again, and node 1's secrets.json is changed by hand.
    const changedSecret = 'mpc-node-0-mpc_account_sk';
    twin.aws.secrets.put(changedSecret, twin.aws.secrets.current(changedSecret)!);
    const node1File = join(twin.nodes[1]!.dataDir, 'secrets.json');
    writeFileSync(node1File, `${readFileSync(node1File, 'utf8')}\n`);
    const afterChanges = snapshot(twin);

    const plan = await runScript('rollback.ts', [journal!, '--plan'], env);
    expect(plan.code).toBe(1); // something would be refused
    expect(plan.output).toMatch(
      new RegExp(`REFUSED ${changedSecret}: AWSCURRENT is \\S+, not the version this run wrote`),
    );
    expect(plan.output).toContain('REFUSED mpc-node-1: secrets.json changed after the run wrote it');
    expect(plan.output).toMatch(/would move mpc-node-2-mpc_account_sk: AWSCURRENT \S+ → \S+/);
    expect(plan.output).toContain('plan only: nothing was written');
    expect(snapshot(twin)).toEqual(afterChanges);

    const partial = await runScript('rollback.ts', [journal!], env);
    expect(partial.code).toBe(1);
    expect(partial.output).toContain(`REFUSED ${changedSecret}`);
    expect(partial.output).toContain('REFUSED mpc-node-1: ');
    const now = snapshot(twin);
    expect(now.secrets[changedSecret]).toBe(afterChanges.secrets[changedSecret]); // left alone
    expect(now.files['mpc-node-1.localnet']).toBe(afterChanges.files['mpc-node-1.localnet']);
    expect(now.secrets['mpc-node-2-mpc_account_sk']).toBe(incident.secrets['mpc-node-2-mpc_account_sk']);
    expect(now.files['mpc-node-2.localnet']).toBe(incident.files['mpc-node-2.localnet']);

    const forced = await runScript('rollback.ts', [journal!, '--force', changedSecret, '--force', 'mpc-node-1'], env);
    expect(forced.code, forced.output).toBe(0);
    expect(snapshot(twin).files['mpc-node-1.localnet']).toBe(incident.files['mpc-node-1.localnet']);
  });

  test('rollback refuses a target that was not chosen explicitly', async () => {
    const twin = started();
    const r = await runScript('rollback.ts', ['/nonexistent.jsonl'], { ...twin.env, RUNBOOK_TARGET: '' });
    expect(r.code).toBe(1);
    expect(r.output).toContain('rollback refuses to run against a target that was not chosen');
  });
});

describe('unlock', () => {
  const started = useTwin('healthy', { waitForRunning: false });

  test('never releases the lock of a run that is alive on this host', async () => {
    const twin = started();
    const live = await acquireFixLock(twin.env, 'a-live-run'); // held by this (living) test process
    try {
      const r = await runScript('unlock.ts', ['a-live-run'], twin.env);
      expect(r.code).toBe(1);
      expect(r.output).toMatch(/run a-live-run is alive on this host \(pid \d+\): stop it/);
      await expect(acquireFixLock(twin.env, 'another-run')).rejects.toThrow(/holds the lock: run a-live-run/);
    } finally {
      await live.release();
    }
  });
});
