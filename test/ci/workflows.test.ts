import { describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

const root = join(import.meta.dirname, '..', '..');
const scripts: Record<string, string> = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts;

interface Step {
  name?: string;
  run?: string;
  uses?: string;
  env?: Record<string, string>;
  id?: string;
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
      const dir = mkdtempSync(join(tmpdir(), 'wf-'));
      const out = join(dir, 'out');
      try {
        execFileSync('bash', ['-c', modeStep.run!], {
          env: { PATH: process.env.PATH!, GITHUB_OUTPUT: out, ...env },
          stdio: ['ignore', 'ignore', 'ignore'],
        });
        return readFileSync(out, 'utf8').trim();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
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
});
