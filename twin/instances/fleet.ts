/**
 * The twin's EC2 instances. Each is a sandbox folder `<rootDir>/<instance-id>/`: `data/` is the
 * node's /data (given to commands as MPC_DATA_DIR), `bin/` puts the `docker` and `aws` stand-ins
 * first on PATH (`jq`, `curl`, `bash` are the system's), `home/` is HOME, `run/` holds the command
 * scripts, `var/log/cloud-init-output.log` the first boot's output. The instance has a private
 * 127.x address that its containers bind to (TWIN_HOST_IP).
 *
 * SSM commands run as AWS-RunShellScript does (see shell.ts): under `sh` — dash on the NEAR base,
 * bash as `sh` on the MPC nodes — with the agent's environment (AWS_SSM_REGION_NAME, no AWS_REGION);
 * `aws` finds its region from --region, its config, or the instance metadata service (imds.ts),
 * which a test may turn off per instance. Containers started by `docker run` belong to
 * the container runtime, not to the command, so they outlive it.
 */
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { CommandResult, InstanceHost, InstanceInfo, RunningCommand } from '../aws/instance-host.ts';
import { createContainerRuntime, type ContainerRuntimeOptions, type ImageTable } from './containers.ts';
import { type ImdsInstance, serveImds } from './imds.ts';
import { defaultShell, type InstanceShell, type RunScriptOptions, runScript, type ShellContext } from './shell.ts';

export interface FleetOptions {
  rootDir: string;
  repoDir: string;
  awsEndpointUrl: string;
  region: string;
  /** Stand for the instance role: exported to commands as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  images: ImageTable;
  /** Network facts every container sees besides TWIN_HOST_IP (e.g. TWIN_NEAR_RPC_URL). */
  containerEnv?: Record<string, string>;
  /** Container runtime tuning (restart backoff, stop timeout). */
  runtime?: Pick<ContainerRuntimeOptions, 'restartBackoff' | 'defaultStopTimeoutSeconds' | 'maxLogLines'>;
}

export interface Instance {
  instanceId: string;
  privateIp: string;
  role: 'mpc-node' | 'near-base';
  name: string;
  dir: string;
  dataDir: string;
  binDir: string;
  homeDir: string;
  runDir: string;
  /** The first boot's output, as /var/log/cloud-init-output.log holds it. */
  cloudInitLog: string;
  ping: InstanceInfo['pingStatus'];
}

export interface BootstrapResult extends CommandResult {
  /** stdout and stderr interleaved as written (what cloud-init-output.log shows). */
  output: string;
}

export type Fleet = Awaited<ReturnType<typeof createFleet>>;

export async function createFleet(opts: FleetOptions) {
  const instances = new Map<string, Instance>();
  const runtime = createContainerRuntime({
    images: opts.images,
    hostEnv: (id) => ({ ...(opts.containerEnv ?? {}), TWIN_HOST_IP: instances.get(id)?.privateIp ?? '127.0.0.1' }),
    ...(opts.runtime ?? {}),
  });
  const children = new Set<ChildProcess>();
  /** Per instance: the shell its commands run under, and whether its metadata service answers. */
  const shells = new Map<string, InstanceShell>();
  const imdsOff = new Set<string>();

  const dockerd = await startInstanceServices({
    docker: (id, argv, env) => (instances.has(id) ? runtime.docker(id, argv, env) : undefined),
    imds: (id) => (instances.has(id) ? { region: opts.region, enabled: !imdsOff.has(id) } : undefined),
  });
  const dockerdUrl = `http://127.0.0.1:${(dockerd.address() as AddressInfo).port}`;

  function addInstance(o: { instanceId: string; privateIp: string; role: Instance['role']; name: string }): Instance {
    if (instances.has(o.instanceId)) throw new Error(`instance ${o.instanceId} exists already`);
    const dir = join(opts.rootDir, o.instanceId);
    const inst: Instance = {
      ...o,
      dir,
      dataDir: join(dir, 'data'),
      binDir: join(dir, 'bin'),
      homeDir: join(dir, 'home'),
      runDir: join(dir, 'run'),
      cloudInitLog: join(dir, 'var', 'log', 'cloud-init-output.log'),
      ping: 'Online',
    };
    for (const d of [inst.dataDir, inst.binDir, inst.homeDir, inst.runDir, join(dir, 'var', 'log')])
      mkdirSync(d, { recursive: true });
    for (const tool of ['docker', 'aws']) {
      const path = join(inst.binDir, tool);
      writeFileSync(
        path,
        `#!/usr/bin/env bash\nexec ${shq(process.execPath)} ${shq(join(opts.repoDir, 'twin', 'instances', 'cli', `${tool}.ts`))} "$@"\n`,
      );
      chmodSync(path, 0o755);
    }
    // SSM commands run as root; `sudo …` in operator scripts just runs the command (options dropped).
    writeFileSync(
      join(inst.binDir, 'sudo'),
      [
        '#!/usr/bin/env bash',
        'while [ $# -gt 0 ]; do',
        '  case "$1" in',
        '    -u|-g|-C|-p|-r|-t|-U) shift 2 ;;',
        '    --) shift; break ;;',
        '    -*) shift ;;',
        '    *) break ;;',
        '  esac',
        'done',
        '[ $# -gt 0 ] || { echo "usage: sudo -h | -K | -k | -V" >&2; exit 1; }',
        'exec "$@"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    instances.set(o.instanceId, inst);
    return inst;
  }

  const shellContext: ShellContext = {
    awsEndpointUrl: opts.awsEndpointUrl,
    region: opts.region,
    credentials: opts.credentials,
    dockerdUrl,
    imdsUrl: (id) => `${dockerdUrl}/imds/${id}`,
    shellOf: (inst) => shells.get(inst.instanceId) ?? defaultShell(inst.role),
    children,
  };
  /** Run a script on an instance as AWS-RunShellScript does (shell.ts). */
  function runOn(instanceId: string, script: string, o: RunScriptOptions): RunningCommand {
    const inst = instances.get(instanceId);
    if (!inst) throw new Error(`no instance ${instanceId}`);
    return runScript(shellContext, inst, script, o);
  }

  const describe = (): InstanceInfo[] =>
    [...instances.values()].map((i) => ({
      instanceId: i.instanceId,
      pingStatus: i.ping,
      ipAddress: i.privateIp,
      computerName: `ip-${i.privateIp.replace(/\./g, '-')}.ec2.internal`,
      platformName: 'Amazon Linux',
      platformVersion: '2023',
    }));

  const host: InstanceHost = {
    describe,
    run: (id, commands, o) =>
      runOn(id, `${commands.join('\n')}\n`, {
        timeoutSeconds: o.executionTimeoutSeconds,
        ...(o.workingDirectory ? { workingDirectory: o.workingDirectory } : {}),
      }),
    setPing(id, ping) {
      const i = instances.get(id);
      if (!i) throw new Error(`no instance ${id}`);
      i.ping = ping;
    },
  };

  return {
    ...host,
    dockerdUrl,
    addInstance,
    instance: (id: string): Instance | undefined => instances.get(id),
    /** Run commands under another shell than the instance's own (tests: the MPC nodes' scripts under dash). */
    setShell(id: string, shell: InstanceShell | undefined) {
      if (!instances.has(id)) throw new Error(`no instance ${id}`);
      if (shell) shells.set(id, shell);
      else shells.delete(id);
    },
    /** Turn an instance's metadata service off (HttpEndpoint=disabled) or on again. */
    setInstanceMetadata(id: string, enabled: boolean) {
      if (!instances.has(id)) throw new Error(`no instance ${id}`);
      if (enabled) imdsOff.delete(id);
      else imdsOff.add(id);
    },
    instances: (): Instance[] => [...instances.values()],
    /**
     * First boot, like EC2 UserData: runs bootstrap.sh with the given parameters (NODE_INDEX, REGION,
     * MPC_ACCOUNT_ID, MPC_CONTRACT_ID, IMAGE, SECRET_POLL_COUNT, SECRET_POLL_SECONDS). The output is
     * appended to the instance's cloud-init-output.log and returned with the exit code.
     */
    async bootstrap(id: string, env: Record<string, string>, timeoutSeconds = 900): Promise<BootstrapResult> {
      const inst = instances.get(id);
      if (!inst) throw new Error(`no instance ${id}`);
      let output = '';
      const script = `exec bash ${shq(join(opts.repoDir, 'twin', 'instances', 'bootstrap.sh'))}\n`;
      const r = await runOn(id, script, {
        timeoutSeconds,
        env,
        onOutput: (_s, text) => {
          output += text;
          appendFileSync(inst.cloudInitLog, text);
        },
      }).done;
      return { ...r, output };
    },
    /** Run one `docker …` command line on an instance directly (tests, twin internals). */
    docker: (instanceId: string, argv: string[], env: Record<string, string> = {}) =>
      runtime.docker(instanceId, argv, env),
    container: runtime.container,
    containers: runtime.list,
    containerLogs: runtime.logs,
    /** Kill every running command and every container process; close the docker socket. */
    async stopAll() {
      for (const c of children) {
        try {
          process.kill(-c.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await runtime.stopAll();
      dockerd.closeAllConnections();
      await new Promise<void>((ok) => dockerd.close(() => ok()));
    },
  };
}

/**
 * The "docker socket": the docker stand-in on each instance POSTs its argv to /docker. The same
 * server answers each instance's metadata service under /imds/<instance-id>/ (imds.ts).
 */
async function startInstanceServices(o: {
  docker: (instanceId: string, argv: string[], env: Record<string, string>) => Promise<unknown> | undefined;
  imds: (instanceId: string) => ImdsInstance | undefined;
}) {
  const server = createServer(async (req, res) => {
    try {
      if (serveImds(req, res, o.imds)) return;
      if (req.method !== 'POST' || req.url !== '/docker') {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(await readBody(req)) as {
        instanceId: string;
        argv: string[];
        env?: Record<string, string>;
      };
      const result = await o.docker(body.instanceId, body.argv, body.env ?? {});
      if (result === undefined) throw new Error(`unknown instance ${body.instanceId}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(result));
    } catch (e) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          exitCode: 1,
          chunks: [{ stream: 'stderr', text: `Error response from daemon: ${(e as Error).message}\n` }],
        }),
      );
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  return server;
}

/** Single-quote for bash. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}
