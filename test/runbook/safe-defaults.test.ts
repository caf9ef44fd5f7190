/**
 * Safe by default, honest in every line (issue 11): the target is never implicit where it matters,
 * the lock is taken only after the account is verified and cannot be mistaken, a partial run is not
 * a verdict, plain `vitest run specs/` reports like `npm run runbook`, and Ctrl-C stops a fix cleanly.
 */
import { spawn } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { acquireFixLock, LOCK_NAME } from '../../helpers/aws/fix-lock.ts';
import { readJournal } from '../../helpers/journal.ts';
import { useTwin } from '../twin-fixture.ts';
import { runbook, type RunResult, snapshot, startScript, workspace } from './runbook-runs.ts';

const root = join(import.meta.dirname, '..', '..');
const createdLocks = (twin: ReturnType<ReturnType<typeof useTwin>>) =>
  twin.aws.stats().secretsmanager?.CreateSecret ?? 0;

// One incident twin for the file: every test before the last but one refuses or only reads (each checks that
// nothing was written), and Ctrl-C's partial fix comes last but one; the last needs only an RPC that is silent.
const started = useTwin('incident-key-mismatch');

describe('the target is never implicit where it matters', () => {
  test(
    'fix with RUNBOOK_TARGET misspelled in the environment refuses, names the typo, and ' + 'writes nothing',
    async () => {
      const twin = started();
      const ws = workspace();
      const before = snapshot(twin);
      const locks = createdLocks(twin);
      // The operator meant the deployment in these variables; RUNBOK_TARGET leaves RUNBOOK_TARGET unset.
      const r = await runbook(twin, 'fix', ws, { RUNBOOK_TARGET: '', RUNBOK_TARGET: 'aws' });
      expect(r.code).not.toBe(0);
      expect(r.output).toContain('fix refuses to run against a target that was not chosen');
      expect(r.output).toContain('RUNBOK_TARGET (did you mean RUNBOOK_TARGET?)');
      expect(r.output).not.toContain('Runbook fix: GREEN');
      expect(r.output).toMatch(/target: the embedded twin \(RUNBOOK_TARGET is not set/);
      expect(snapshot(twin)).toEqual(before);
      expect(ws.journals()).toEqual([]);
      expect(createdLocks(twin)).toBe(locks); // not even the lock
    },
  );

  test('a gate names its target in the header and the report, and warns about lookalike variables', async () => {
    const twin = started();
    const r = await runbook(twin, 'gate', workspace(), { MPC_KEY_FILE: '/tmp/x.json' });
    expect(r.output).toMatch(/mpc-runbook gate — target: AWS account 111122223333, region us-east-1 at http:/);
    expect(r.output).toMatch(
      new RegExp(
        '\\nChecked: AWS account 111122223333, region us-east-1 at http://127\\.0\\.0\\.1:\\d+, ' +
          'stacks MpcStandaloneStack and near-localnet-infrastructure, NEAR RPC http://127\\.0\\.0\\.1:\\d+\\n',
      ),
    );
    expect(r.output).toMatch(/\[warning\] 00 .*MPC_KEY_FILE looks like MPC_KEYS_FILE but is not it/);
  });

  test('fix with a lookalike variable refuses before anything is written', async () => {
    const twin = started();
    const ws = workspace();
    const before = snapshot(twin);
    const r = await runbook(twin, 'fix', ws, { EXPECTED_AWS_REGOIN: 'us-east-1' });
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('EXPECTED_AWS_REGOIN (did you mean EXPECTED_AWS_REGION?)');
    expect(snapshot(twin)).toEqual(before);
    expect(ws.journals()).toEqual([]);
  });
});

describe('the lock cannot lie', () => {
  test('a fix refused for another account never takes the lock', async () => {
    const twin = started();
    const locks = createdLocks(twin);
    const r = await runbook(twin, 'fix', workspace(), { EXPECTED_AWS_ACCOUNT_ID: '999999999999' });
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/fix refused: the fix lock was not taken: refusing to write: AWS account is 111122223333/);
    expect(createdLocks(twin)).toBe(locks);
  });

  test('a gate started while a fix holds the lock says who holds it and since when', async () => {
    const twin = started();
    const held = await acquireFixLock(twin.env, 'run-in-progress');
    try {
      const r = await runbook(twin, 'gate', workspace());
      expect(r.output).toMatch(/a fix run holds the lock: run run-in-progress on \S+ \(pid \d+\) since 20\d\d-/);
    } finally {
      await held.release();
    }
  });

  test('a gate that may not read the lock says so, and that a fix run may hold it', async () => {
    const twin = started();
    twin.aws.faults.deny = [{ service: 'secretsmanager', operation: 'GetSecretValue', input: { SecretId: LOCK_NAME } }];
    try {
      const r = await runScriptWith(twin.env, ['gate', 'specs/00-preflight']);
      expect(r.output).toMatch(/\[warning\] 00 .*: a fix run may hold the lock, unread: AWS Secrets Manager .*denied/);
    } finally {
      twin.aws.faults.deny = [];
    }
  });
});

describe('every line of output is true', () => {
  test('a filtered run says which steps it covered and is not a verdict on the Layer 3', async () => {
    const twin = started();
    const r = await runScriptWith(twin.env, ['gate', 'specs/00-preflight']);
    expect(r.output).toContain('Runbook gate: GREEN (partial)');
    expect(r.output).toContain('Partial run: 1 of 6 steps (00-preflight); this is not a verdict on the Layer 3.');
    expect(r.output).not.toContain('Next: nothing to do');
    expect(r.output).toContain('Next: npm run runbook   # every step, for a verdict on the Layer 3');
  });

  test('plain `vitest run specs/` ends with the runbook report and writes the JUnit file', async () => {
    const twin = started();
    const ws = workspace();
    const r = await vitestRunSpecs({ ...twin.env, ...ws.env });
    expect(r.code).toBe(1); // the incident
    expect(r.output).toMatch(/Runbook gate: RED in [\d.]+ s/);
    expect(r.output).toMatch(/01-keys-match +1 passed, 3 failed/);
    expect(r.output).toContain('Next: npm run plan');
    expect(existsSync(ws.env.RUNBOOK_JUNIT_FILE)).toBe(true);
    expect(readFileSync(ws.env.RUNBOOK_JUNIT_FILE, 'utf8')).toContain('<testsuites');
  });

  test('Ctrl-C during fix: the run says what it had done, records what was in flight, releases the lock', async () => {
    const twin = started();
    const ws = workspace();
    twin.aws.faults.latencyMs = 300; // writes take long enough to be caught in flight
    const run = startScript('runbook.ts', ['fix'], { ...twin.env, ...ws.env });
    const journal = await vi.waitFor(
      () => {
        const j = ws.journals()[0];
        expect(j && readFileSync(j, 'utf8')).toContain('"phase":"intent"');
        return j!;
      },
      { timeout: 300_000, interval: 5 },
    );
    run.interrupt();
    const r = await run.result;
    twin.aws.faults.latencyMs = 0;
    expect(r.code).toBe(130);
    expect(r.output).toContain('Interrupted by SIGINT.');
    expect(r.output).toContain(`Journal: ${journal}`);
    expect(r.output).toMatch(/Steps finished: 00-preflight passed, 01-keys-match passed/);
    const entries = readJournal(journal);
    const open = entries.filter(
      (e) => e.phase === 'intent' && !entries.some((o) => o.phase !== 'intent' && o.ref === e.seq),
    );
    expect(open).toEqual([]); // every intent has an outcome: done, failed or interrupted
    // The lock is free: another fix run can take it at once.
    const next = await acquireFixLock(twin.env, 'the-next-run');
    await next.release();
  });
});

describe('fail fast, and do not repeat a known failure', () => {
  test(
    'an RPC that accepts connections and never answers: one red sentence, then "not checked" ' + 'without asking again',
    async () => {
      const twin = started();
      let requests = 0;
      const silent = createServer((socket) => {
        socket.on('data', (d) => {
          requests += String(d).match(/^POST /gm)?.length ?? 0;
        });
      });
      await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      try {
        const env = { NEAR_RPC_URL: url, RUNBOOK_RPC_TIMEOUT_S: '2', RUNBOOK_RPC_BUDGET_S: '3' };
        const r = await runbook(twin, 'gate', workspace(), env);
        expect(r.code).toBe(1);
        expect(r.output).toMatch(/the NEAR RPC answers[^\n]*\n\s+NEAR RPC at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
        // Later claims that need the RPC say so at once, quoting the first failure, instead of waiting again.
        expect(r.output).toMatch(
          new RegExp(
            String.raw`the MPC contract is deployed[^\n]*\n[^\n]*not checked: ` +
              String.raw`the NEAR RPC at http:\S+ did not answer within 3 s \(RPC status\)`,
          ),
        );
        expect(requests).toBeGreaterThan(0);
        expect(requests).toBeLessThanOrEqual(6); // one call's budget, not one per claim
      } finally {
        silent.close();
      }
    },
  );
});

function runScriptWith(env: Record<string, string>, args: string[]): Promise<RunResult> {
  return startScript('runbook.ts', args, { ...env, ...workspace().env }).result;
}

function vitestRunSpecs(env: Record<string, string>): Promise<RunResult> {
  const child = spawn(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'specs/'], {
    cwd: root,
    env: { ...process.env, ...env, CI: 'true', FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  return new Promise((ok) => child.on('close', (code) => ok({ code, output })));
}
