/** Running the runbook as an operator would (a child process with ordinary configuration) against a twin. */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Twin } from '../../twin/start.ts';
import { withCompileCache } from '../../scripts/compile-cache.ts';
import { scenarioSecrets } from '../../twin/scenario.ts';
import { tempDir } from '../temp-dir.ts';

const root = join(import.meta.dirname, '..', '..');

export interface RunResult {
  code: number | null;
  output: string;
}

/**
 * A workspace per run: its own journal, run state, JUnit file and GitHub step summary. Removed when the file's
 * tests are done (a failed run's output is in the test's).
 */
export function workspace() {
  const dir = tempDir('runbook-ws-');
  const files = (sub: string): string[] => {
    const d = join(dir, sub);
    return existsSync(d)
      ? readdirSync(d, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => join(e.parentPath, e.name))
      : [];
  };
  return {
    dir,
    env: {
      RUNBOOK_JOURNAL_DIR: join(dir, 'journal'),
      RUNBOOK_STATE_DIR: join(dir, 'runs'),
      RUNBOOK_JUNIT_FILE: join(dir, 'junit.xml'),
      GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
    },
    journals: () => files('journal'),
    /** The actions each plan run announced (plan.json of every run in this workspace). */
    plans: () => files('runs').filter((f) => f.endsWith('plan.json')),
    /** Everything the runbook wrote that a person or CI could read: JUnit, step summary, journals, run state. */
    artifacts: () =>
      [join(dir, 'junit.xml'), join(dir, 'summary.md'), ...files('journal'), ...files('runs')]
        .filter(existsSync)
        .map((f) => readFileSync(f, 'utf8'))
        .join('\n'),
  };
}

/**
 * The environment for a run in which `file` under specs/ (`03-nodes-healthy.spec.ts`, `setup/global-setup.ts`)
 * reads as `source` when Node loads it: a module hook (`--import`) in the workspace, so a broken step or set-up
 * is tried without touching specs/ (other tests run from the same tree).
 */
export function specFileReadsAs(
  ws: ReturnType<typeof workspace>,
  file: string,
  source: string,
): Record<string, string> {
  const hook = join(ws.dir, `${file.replace(/\W/g, '-')}-reads-as.mjs`);
  writeFileSync(
    hook,
    [
      "import { registerHooks } from 'node:module';",
      'registerHooks({',
      '  load: (url, context, next) =>',
      `    url.includes(${JSON.stringify(`/specs/${file}`)})`,
      `      ? { format: 'module', source: ${JSON.stringify(source)}, shortCircuit: true }`,
      '      : next(url, context),',
      '});',
    ].join('\n'),
  );
  return { NODE_OPTIONS: `--import ${hook}` };
}

/** Start a script as its own process group (so a test can kill it, and every worker it started, at once). */
export function startScript(script: string, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [join(root, 'scripts', script), ...args], {
    cwd: root,
    env: withCompileCache({ ...process.env, ...env, CI: 'true', FORCE_COLOR: '0' }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const result = new Promise<RunResult>((ok) => child.on('close', (code) => ok({ code, output })));
  return {
    result,
    output: () => output,
    kill: () => process.kill(-child.pid!, 'SIGKILL'),
    /** Ctrl-C to the runbook's own process (not its group), as a terminal would send it. */
    interrupt: () => process.kill(child.pid!, 'SIGINT'),
  };
}

/** A port on 127.0.0.1 that nothing listens on. */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as { port: number };
  await new Promise((ok) => srv.close(ok));
  return port;
}

export const runScript = (script: string, args: string[], env: Record<string, string>): Promise<RunResult> =>
  startScript(script, args, env).result;

/**
 * A string literal cut across source lines and left inside a template (`…NEAR ' +⏎ 'RPC …`): what the
 * operator read on every aws-target run until 3fdac8f. No run's output may carry one.
 */
export const SPLIT_LITERAL = /['"`] \+\n\s*['"`]/;

/** The runbook in one mode, as an operator runs it; its output is checked for split literals (SPLIT_LITERAL). */
export async function runbook(
  twin: Twin,
  mode: 'gate' | 'plan' | 'fix',
  ws: ReturnType<typeof workspace>,
  extra: Record<string, string> = {},
): Promise<RunResult> {
  const r = await runScript('runbook.ts', [mode], { ...twin.env, ...ws.env, ...extra });
  expect(SPLIT_LITERAL.exec(r.output)?.[0], `a source line's split in the ${mode} output`).toBeUndefined();
  return r;
}

/** Fix, then the read-only gate that proves it: both must exit 0 (the output is in the failure message). */
export async function fixThenGate(
  twin: Twin,
  ws: ReturnType<typeof workspace>,
): Promise<{ fix: RunResult; gate: RunResult }> {
  const fix = await runbook(twin, 'fix', ws);
  expect(fix.code, fix.output.slice(-3000)).toBe(0);
  const gate = await runbook(twin, 'gate', ws);
  expect(gate.code, gate.output.slice(-3000)).toBe(0);
  return { fix, gate };
}

/** Every form a scenario secret could leak in: raw, JSON-escaped, base64. */
export function leakedSecrets(twin: Twin, text: string): string[] {
  const leaks: string[] = [];
  for (const s of scenarioSecrets(twin.scenario)) {
    for (const form of [s, JSON.stringify(s).slice(1, -1), Buffer.from(s).toString('base64')]) {
      if (text.includes(form)) leaks.push(`${form.slice(0, 12)}…`);
    }
  }
  return leaks;
}

/** What a rollback must restore byte for byte: every secret's AWSCURRENT and every node's secrets.json. */
export function snapshot(twin: Twin) {
  const secrets = Object.fromEntries(
    twin.nodes.flatMap((n) =>
      ['mpc_account_sk', 'mpc_p2p_private_key', 'mpc_secret_store_key'].map((k) => {
        const name = `mpc-node-${n.index}-${k}`;
        return [name, twin.aws.secrets.current(name)];
      }),
    ),
  );
  const files = Object.fromEntries(
    twin.nodes.map((n) => [n.accountId, readFileSync(join(n.dataDir, 'secrets.json')).toString('base64')]),
  );
  return { secrets, files };
}
