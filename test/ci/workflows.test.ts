import { describe, expect, test } from 'vitest';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { tempDir } from '../temp-dir.ts';

const root = join(import.meta.dirname, '..', '..');
const scripts: Record<string, string> = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts;

interface Step {
  name?: string;
  run?: string;
  uses?: string;
  env?: Record<string, string>;
  id?: string;
  if?: string;
}
interface Workflow {
  on: Record<string, unknown>;
  jobs: Record<string, { steps: Step[] }>;
}

const workflows = Object.fromEntries(
  readdirSync(join(root, '.github', 'workflows'))
    .filter((f) => f.endsWith('.yml'))
    .map((f) => [f, parse(readFileSync(join(root, '.github', 'workflows', f), 'utf8')) as Workflow]),
);
const steps = (wf: Workflow) => Object.values(wf.jobs).flatMap((j) => j.steps);

describe('CI workflows', () => {
  test('there is a gate workflow and a nightly workflow, and both parse', () => {
    expect(Object.keys(workflows).sort()).toEqual(['gate.yml', 'nightly.yml']);
  });

  test.for(Object.keys(workflows))('%s runs only npm scripts that exist', (file) => {
    const commands = steps(workflows[file]!).flatMap((s) => s.run ?? '');
    const used = commands.flatMap((c) => [...c.matchAll(/\bnpm (?:run(?:-script)? )?([\w:-]+)/g)].map((m) => m[1]!));
    expect(used.length).toBeGreaterThan(0);
    const builtin = new Set(['ci', 'install', 'test']);
    for (const name of used) {
      if (name === 'test') expect(scripts.test).toBeDefined();
      else if (!builtin.has(name)) expect(scripts, `npm run ${name} in ${file}`).toHaveProperty(name);
    }
  });

  test('the gate workflow runs on push and pull request: npm ci, npm test and the demo', () => {
    const wf = workflows['gate.yml']!;
    expect(Object.keys(wf.on).sort()).toEqual(['pull_request', 'push']);
    const runs = steps(wf).map((s) => s.run?.trim());
    expect(runs).toEqual(expect.arrayContaining(['npm ci', 'npm test', 'npm run demo']));
  });

  test('CI runs what the README says: npm test, then the end-to-end matrices (gate.yml and .ci/run alike)', () => {
    const gate = steps(workflows['gate.yml']!).map((s) => s.run?.trim());
    expect(gate.indexOf('npm run test:matrix')).toBeGreaterThan(gate.indexOf('npm test'));
    const ci = readFileSync(join(root, '.ci', 'run'), 'utf8').split('\n');
    expect(ci.indexOf('npm run test:matrix')).toBeGreaterThan(ci.indexOf('npm test'));
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toMatch(/^npm test +#/m);
    expect(readme).toMatch(/^npm run test:matrix +#/m);
    expect(scripts['test:matrix']).toBe('vitest run --project matrix');
    const config = readFileSync(join(root, 'vitest.config.ts'), 'utf8');
    const matrix = /const MATRIX = \[([^\]]*)\]/.exec(config)?.[1] ?? '';
    expect(matrix.match(/'[^']+'/g)).toEqual([
      "'test/runbook/redaction-matrix.test.ts'",
      "'test/runbook/catalogue-*.test.ts'",
      "'test/runbook/blockers-*.test.ts'",
      "'test/runbook/secret-shapes.test.ts'",
      "'test/runbook/faults-*.test.ts'",
    ]);
  });

  describe('the nightly workflow', () => {
    const wf = workflows['nightly.yml']!;
    const modeStep = steps(wf).find((s) => s.id === 'mode')!;

    test('is scheduled, can be dispatched by hand, and assumes an AWS role through OIDC', () => {
      expect(wf.on).toHaveProperty('schedule');
      expect(wf.on).toHaveProperty('workflow_dispatch');
      expect(steps(wf).some((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials'))).toBe(true);
      expect((wf as unknown as { permissions: Record<string, string> }).permissions['id-token']).toBe('write');
    });

    const chooseMode = (env: Record<string, string>) => {
      const dir = tempDir('wf-');
      const out = join(dir, 'out');
      execFileSync('bash', ['-c', modeStep.run!], {
        env: { PATH: process.env.PATH!, GITHUB_OUTPUT: out, ...env },
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      return readFileSync(out, 'utf8').trim();
    };

    test.for([
      [{ EVENT: 'schedule', INPUT_MODE: '', INPUT_CONFIRM: '' }, 'mode=gate'],
      [{ EVENT: 'schedule', INPUT_MODE: 'fix', INPUT_CONFIRM: 'FIX' }, 'mode=gate'],
      [{ EVENT: 'workflow_dispatch', INPUT_MODE: 'fix', INPUT_CONFIRM: '' }, 'mode=gate'],
      [{ EVENT: 'workflow_dispatch', INPUT_MODE: 'fix', INPUT_CONFIRM: 'FIX' }, 'mode=fix'],
      [{ EVENT: 'workflow_dispatch', INPUT_MODE: 'plan', INPUT_CONFIRM: '' }, 'mode=plan'],
    ] as const)('event %j chooses %s', ([env, expected]) => {
      expect(chooseMode(env)).toBe(expected);
    });

    test('uploads the JUnit report', () => {
      const upload = steps(wf).find((s) => s.uses?.startsWith('actions/upload-artifact'));
      expect(JSON.stringify(upload)).toContain('.vitest/junit');
    });
  });

  describe('the nightly workflow reaches the RPC through an SSM port-forward', () => {
    const wf = workflows['nightly.yml']!;
    const all = steps(wf);
    const at = (id: string) => all.findIndex((s) => s.id === id);
    const byId = (id: string) => all.find((s) => s.id === id)!;
    const wait = all.find((s) => s.name?.startsWith('Wait for the NEAR RPC'))!;
    const close = all.find((s) => s.name === 'Close the port-forward')!;
    const runbookStep = all.findIndex((s) => s.name === 'Runbook');

    test('finds the NEAR base, opens the forward, waits for status, runs the gate, then closes it (always)', () => {
      const creds = all.findIndex((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials'));
      const order = [creds, at('near-base'), at('forward'), all.indexOf(wait), runbookStep, all.indexOf(close)];
      expect(order.every((n) => n >= 0)).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      expect(byId('near-base').run).toMatch(/describe-stacks .*--stack-name "\$NEAR_STACK_NAME"/);
      expect(byId('near-base').run).toContain("OutputKey=='nearinstanceid'");
      expect(byId('forward').run).toContain('--document-name AWS-StartPortForwardingSession');
      expect(byId('forward').run).toContain('--parameters portNumber=3030,localPortNumber=3030');
      expect(byId('forward').env?.TARGET).toBe('${{ steps.near-base.outputs.instance }}');
      expect(all.some((s) => s.run?.includes('session-manager-plugin --version'))).toBe(true);
      expect(close.if).toMatch(/^always\(\)/);
      const job = Object.values(wf.jobs)[0] as unknown as { env: Record<string, string> };
      expect(job.env.NEAR_RPC_URL).toBe("${{ vars.NEAR_RPC_URL || 'http://127.0.0.1:3030' }}");
    });

    test('the wait step passes once a local stub RPC answers status', async () => {
      let calls = 0;
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
          calls++;
          if (calls < 2 || JSON.parse(body).method !== 'status') return void res.writeHead(503).end();
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ jsonrpc: '2.0', id: 'nightly', result: { chain_id: 'localnet' } }));
        });
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const r = await runStep(wait, { NEAR_RPC_URL: url, RPC_WAIT_S: '30', FORWARD_LOG: '' });
        expect(r.code, r.output).toBe(0);
        expect(r.output).toContain(`the NEAR RPC answers at ${url}`);
        expect(calls).toBeGreaterThanOrEqual(2);
      } finally {
        server.closeAllConnections();
        server.close();
      }
    });

    test('the wait step fails with the reason (and the forward log) when nothing answers', async () => {
      const dir = tempDir('wf-');
      writeFileSync(
        join(dir, 'port-forward.log'),
        'An error occurred (TargetNotConnected) when calling StartSession\n',
      );
      const closed = createServer();
      await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((ok) => closed.close(() => ok()));
      const url = `http://127.0.0.1:${port}`;
      const r = await runStep(wait, { NEAR_RPC_URL: url, RPC_WAIT_S: '1', FORWARD_LOG: join(dir, 'port-forward.log') });
      expect(r.code).not.toBe(0);
      expect(r.output).toContain(`::error::the NEAR RPC at ${url} did not answer status within 1 s`);
      expect(r.output).toContain('TargetNotConnected');
    });

    test('the NEAR base step reads nearinstanceid, and fails clearly when the stack has none', async () => {
      const fakeAws = (answer: string) => {
        const bin = tempDir('wf-bin-');
        writeFileSync(join(bin, 'aws'), `#!/bin/sh\necho "$*" > "${bin}/argv"\necho ${answer}\n`);
        chmodSync(join(bin, 'aws'), 0o755);
        return bin;
      };
      const good = fakeAws('i-0near0000000000001');
      const out = join(good, 'out');
      const r = await runStep(byId('near-base'), {
        PATH: `${good}:${process.env.PATH}`,
        GITHUB_OUTPUT: out,
        AWS_REGION: 'us-east-1',
        NEAR_STACK_NAME: 'near-localnet-infrastructure',
      });
      expect(r.code, r.output).toBe(0);
      expect(readFileSync(out, 'utf8')).toBe('instance=i-0near0000000000001\n');
      expect(readFileSync(join(good, 'argv'), 'utf8')).toMatch(
        /--region us-east-1 --stack-name near-localnet-infrastructure/,
      );
      const none = fakeAws('None');
      const bad = await runStep(byId('near-base'), {
        PATH: `${none}:${process.env.PATH}`,
        GITHUB_OUTPUT: join(none, 'out'),
        AWS_REGION: 'us-east-1',
        NEAR_STACK_NAME: 'near-localnet-infrastructure',
      });
      expect(bad.code).not.toBe(0);
      expect(bad.output).toContain('has no nearinstanceid output');
    });

    test('the close step ends the whole port-forward process group', async () => {
      const dir = tempDir('wf-');
      const log = join(dir, 'port-forward.log');
      writeFileSync(log, '\nStarting session with SessionId: runner-0123456789abcdef\nPort 3030 opened\n');
      const bin = tempDir('wf-bin-');
      writeFileSync(join(bin, 'aws'), `#!/bin/sh\necho "$*" > "${bin}/terminated"\n`);
      chmodSync(join(bin, 'aws'), 0o755);
      // A stand-in for `aws ssm start-session` and its session-manager-plugin child, in their own group.
      const forward = spawn('sh', ['-c', 'sleep 300 & sleep 300; wait'], { detached: true, stdio: 'ignore' });
      const alive = () => {
        try {
          process.kill(-forward.pid!, 0);
          return true;
        } catch {
          return false;
        }
      };
      try {
        expect(alive()).toBe(true);
        const r = await runStep(close, {
          PID: String(forward.pid),
          FORWARD_LOG: log,
          AWS_REGION: 'us-east-1',
          PATH: `${bin}:${process.env.PATH}`,
        });
        expect(r.code, r.output).toBe(0);
        await expect.poll(alive, { timeout: 10_000 }).toBe(false);
        expect(readFileSync(join(bin, 'terminated'), 'utf8')).toContain('--session-id runner-0123456789abcdef');
      } finally {
        if (alive()) process.kill(-forward.pid!, 'SIGKILL');
      }
    });
  });

  describe('the nightly schedule needs no secret keys', () => {
    const wf = workflows['nightly.yml']!;
    const all = steps(wf);
    const pub = all.find((s) => s.id === 'public-manifest')!;
    const secret = all.find((s) => s.id === 'secret-manifest')!;

    test('only the manual fix step reads the secret MPC_NODE_KEYS_JSON; gate and plan read the public keys', () => {
      const readers = all.filter((s) => JSON.stringify(s).includes('secrets.MPC_NODE_KEYS_JSON'));
      expect(readers).toEqual([secret]);
      expect(secret.if).toBe("steps.mode.outputs.mode == 'fix'");
      expect(pub.if).toBe("steps.mode.outputs.mode != 'fix'");
      expect(pub.env?.MPC_PUBLIC_KEYS_JSON).toBe('${{ vars.MPC_PUBLIC_KEYS_JSON }}');
    });

    const manifestStep = async (step: Step, env: Record<string, string>) => {
      const dir = tempDir('wf-');
      const files = { GITHUB_ENV: join(dir, 'env'), GITHUB_OUTPUT: join(dir, 'out'), RUNNER_TEMP: dir };
      const r = await runStep(step, { ...files, ...env });
      const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
      return { ...r, env: read(files.GITHUB_ENV), out: read(files.GITHUB_OUTPUT), dir };
    };

    test('the schedule (gate) with a public-keys manifest, and with none', async () => {
      const keys = JSON.stringify({ 'node-0': { MPC_ACCOUNT_ID: 'a', MPC_ACCOUNT_PK: 'p', MPC_P2P_PUBLIC_KEY: 'q' } });
      const withKeys = await manifestStep(pub, { MPC_PUBLIC_KEYS_JSON: keys });
      expect(withKeys.code, withKeys.output).toBe(0);
      expect(withKeys.env).toBe(`MPC_KEYS_FILE=${join(withKeys.dir, 'mpc-node-public-keys.json')}\n`);
      expect(readFileSync(join(withKeys.dir, 'mpc-node-public-keys.json'), 'utf8')).toBe(keys);
      expect(withKeys.out).toBe('manifest=public\n');
      const none = await manifestStep(pub, { MPC_PUBLIC_KEYS_JSON: '' });
      expect(none.code).toBe(0);
      expect(none.env).toBe('');
      expect(none.out).toBe('manifest=none\n');
    });

    test('a manual fix without the secret stops with the reason; with it, the manifest is written 0600', async () => {
      const missing = await manifestStep(secret, { MPC_NODE_KEYS_JSON: '' });
      expect(missing.code).not.toBe(0);
      expect(missing.output).toContain(
        "fix needs the manifest's secret keys: set the repository secret MPC_NODE_KEYS_JSON",
      );
      const given = await manifestStep(secret, { MPC_NODE_KEYS_JSON: '{"node-0":{}}' });
      expect(given.code, given.output).toBe(0);
      expect(given.env).toBe(`MPC_KEYS_FILE=${join(given.dir, 'mpc-node-keys.json')}\n`);
      expect(
        execFileSync('stat', ['-c', '%a', join(given.dir, 'mpc-node-keys.json')])
          .toString()
          .trim(),
      ).toBe('600');
    });
  });
});

/** A step's `run` as GitHub runs it on ubuntu (bash --noprofile --norc -eo pipefail), asynchronously. */
function runStep(step: Step, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((ok) => {
    execFile(
      'bash',
      ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run!],
      { env: { PATH: process.env.PATH!, HOME: tmpdir(), ...env }, timeout: 60_000 },
      (e, stdout, stderr) => ok({ code: e ? ((e as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
}
