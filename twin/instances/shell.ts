/**
 * Commands on a twin instance, run the way the SSM agent runs AWS-RunShellScript: the commands,
 * joined by newlines, are written to `_script.sh`, which `sh` runs (no `set -e`/`pipefail` added);
 * the exit code is the script's; the execution timeout kills the whole process group.
 *
 * Which `sh` (audit row 10): the NEAR base is Ubuntu, whose /bin/sh is dash; the MPC nodes are
 * Amazon Linux 2023, whose /bin/sh is bash — which, started under the name `sh`, runs in POSIX mode.
 * So the NEAR base runs scripts under dash, the MPC nodes under bash invoked as `sh`; a test can
 * choose either for any instance.
 *
 * The environment is the agent's: AWS_SSM_REGION_NAME and AWS_SSM_INSTANCE_ID, no AWS_REGION or
 * AWS_DEFAULT_REGION, so `aws` finds its region only from --region, its config file, or the
 * instance metadata (IMDS). The twin's IMDS stands at AWS_EC2_METADATA_SERVICE_ENDPOINT (the real
 * CLI's setting for where IMDS is); the instance role's credentials are in the environment.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { CommandResult, RunningCommand } from '../aws/instance-host.ts';

/** `dash` (the NEAR base's /bin/sh) or `bash` started as `sh` (the MPC nodes' /bin/sh). */
export type InstanceShell = 'dash' | 'bash-as-sh';

/** What a command needs to know of its instance. */
export interface ShellInstance {
  instanceId: string;
  privateIp: string;
  role: 'mpc-node' | 'near-base';
  dataDir: string;
  binDir: string;
  homeDir: string;
  runDir: string;
}

export interface ShellContext {
  awsEndpointUrl: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  dockerdUrl: string;
  /** Where the twin's instance metadata service answers for an instance (stands for 169.254.169.254). */
  imdsUrl: (instanceId: string) => string;
  /** The shell an instance runs commands with (default: by role). */
  shellOf: (inst: ShellInstance) => InstanceShell;
  /** Running commands, so the fleet can kill them all when it stops. */
  children: Set<ChildProcess>;
}

const SYSTEM_PATH = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';

/** The faithful shell per role: dash on the Ubuntu NEAR base, bash-as-sh on the AL2023 MPC nodes. */
export const defaultShell = (role: ShellInstance['role']): InstanceShell =>
  role === 'near-base' ? 'dash' : 'bash-as-sh';

let dashPath: string | undefined;
/** dash itself when installed, else the system's /bin/sh (dash on Debian and Ubuntu). */
function dash(): string {
  dashPath ??= spawnSync('dash', ['-c', ':']).status === 0 ? 'dash' : '/bin/sh';
  return dashPath;
}

/** The environment the SSM agent gives a command (plus the twin's plumbing: endpoints, the docker socket). */
export function instanceEnv(
  ctx: ShellContext,
  inst: ShellInstance,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: `${inst.binDir}:${SYSTEM_PATH}`,
    HOME: inst.homeDir,
    USER: 'root',
    LANG: 'C.UTF-8',
    MPC_DATA_DIR: inst.dataDir,
    // Written twice on purpose: the runbook's rematerialise script reads it (helpers/repairs/).
    AWS_SSM_REGION_NAME: ctx.region,
    AWS_SSM_INSTANCE_ID: inst.instanceId,
    AWS_ENDPOINT_URL: ctx.awsEndpointUrl,
    AWS_ACCESS_KEY_ID: ctx.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ctx.credentials.secretAccessKey,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: ctx.imdsUrl(inst.instanceId),
    AWS_PAGER: '',
    TWIN_DOCKERD_URL: ctx.dockerdUrl,
    TWIN_INSTANCE_ID: inst.instanceId,
    TWIN_INSTANCE_IP: inst.privateIp,
    ...extra,
  };
}

/** The sandbox path for an instance path: `/data…` is the data dir; other absolute paths stay. */
export function sandboxPath(inst: ShellInstance, p: string): string {
  if (p === '/data' || p.startsWith('/data/')) return inst.dataDir + p.slice(5);
  return isAbsolute(p) ? p : resolve(inst.homeDir, p);
}

export interface RunScriptOptions {
  timeoutSeconds: number;
  workingDirectory?: string;
  env?: Record<string, string>;
  onOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
}

/** Run a script on an instance as AWS-RunShellScript does; the execution timeout kills the process group. */
export function runScript(ctx: ShellContext, inst: ShellInstance, script: string, o: RunScriptOptions): RunningCommand {
  const orchestration = join(inst.runDir, randomUUID());
  mkdirSync(orchestration, { recursive: true });
  let cwd = orchestration;
  if (o.workingDirectory) {
    cwd = sandboxPath(inst, o.workingDirectory);
    if (!existsSync(cwd) || !statSync(cwd).isDirectory()) {
      return {
        done: Promise.resolve({
          exitCode: 1,
          stdout: '',
          stderr:
            `Invalid workingDirectory ${o.workingDirectory}, directory doesn't exist.\n` +
            'failed to run commands: exit status 1',
          timedOut: false,
        }),
        cancel: () => {},
      };
    }
  }
  const file = join(orchestration, '_script.sh');
  writeFileSync(file, script, { mode: 0o700 });
  const shell = ctx.shellOf(inst);
  const child = spawn(shell === 'dash' ? dash() : 'bash', [file], {
    argv0: 'sh',
    cwd,
    env: instanceEnv(ctx, inst, o.env),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(ctx, child, o);
}

/** Collect a command's output and outcome; the timeout (and cancel) kill its whole process group. */
function track(ctx: ShellContext, child: ChildProcess, o: RunScriptOptions): RunningCommand {
  ctx.children.add(child);
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    o.onOutput?.('stdout', d);
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    o.onOutput?.('stderr', d);
  });
  const kill = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, o.timeoutSeconds * 1000);
  const done = new Promise<CommandResult>((ok) => {
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ctx.children.delete(child);
      // The agent reports the script's exit status; a killed script reads as 128 + signal (SIGKILL: 137).
      ok({
        exitCode: code ?? (signal === 'SIGKILL' ? 137 : signal === 'SIGTERM' ? 143 : 1),
        stdout,
        stderr,
        timedOut,
      });
    };
    child.on('error', (e) => {
      stderr += `failed to run commands: ${e.message}\n`;
      finish(1, null);
    });
    child.on('close', finish);
    // A background process that keeps the output pipes open must not hold the result forever.
    child.on('exit', (code, signal) => setTimeout(() => finish(code, signal), 500).unref());
  });
  return { done, cancel: kill };
}
