/**
 * The twin's EC2 instances. Each is a sandbox folder: `data/` is the node's /data (given to
 * commands as MPC_DATA_DIR), `bin/` puts the `docker` and `aws` stand-ins first on PATH, and the
 * instance has a private 127.x address. SSM commands run there under bash, as AWS-RunShellScript does.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { InstanceHost, InstanceInfo, RunningCommand } from '../aws/instance-host.ts';
import { createContainerRuntime, type ImageTable } from './containers.ts';

export interface FleetOptions {
  rootDir: string;
  repoDir: string;
  awsEndpointUrl: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  images: ImageTable;
  /** Network facts every container sees (the twin's stand-in for the instance's network). */
  containerEnv?: Record<string, string>;
}

interface Instance {
  instanceId: string;
  privateIp: string;
  role: 'mpc-node' | 'near-base';
  name: string;
  dir: string;
  dataDir: string;
  binDir: string;
  homeDir: string;
  ping: InstanceInfo['pingStatus'];
}

export type Fleet = Awaited<ReturnType<typeof createFleet>>;

export async function createFleet(opts: FleetOptions) {
  const instances = new Map<string, Instance>();
  const runtime = createContainerRuntime({
    images: opts.images,
    hostEnv: (id) => ({ ...(opts.containerEnv ?? {}), TWIN_HOST_IP: instances.get(id)?.privateIp ?? '127.0.0.1' }),
  });
  const children = new Set<ReturnType<typeof spawn>>();

  // The "docker socket": the docker stand-in on each instance forwards its argv here.
  const dockerd = createServer(async (req, res) => {
    try {
      const body = JSON.parse(await readBody(req)) as { instanceId: string; argv: string[]; env: Record<string, string> };
      const result = await runtime.docker(body.instanceId, body.argv, body.env);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(result));
    } catch (e) {
      res.writeHead(500);
      res.end(JSON.stringify({ exitCode: 1, stdout: '', stderr: `Cannot connect to the Docker daemon: ${(e as Error).message}\n` }));
    }
  });
  await new Promise<void>((ok) => dockerd.listen(0, '127.0.0.1', ok));
  const dockerdUrl = `http://127.0.0.1:${(dockerd.address() as AddressInfo).port}`;

  function addInstance(o: { instanceId: string; privateIp: string; role: Instance['role']; name: string }): Instance {
    const dir = join(opts.rootDir, o.instanceId);
    const inst: Instance = { ...o, dir, dataDir: join(dir, 'data'), binDir: join(dir, 'bin'), homeDir: join(dir, 'home'), ping: 'Online' };
    for (const d of [inst.dataDir, inst.binDir, inst.homeDir, join(dir, 'run')]) mkdirSync(d, { recursive: true });
    for (const tool of ['docker', 'aws']) {
      const path = join(inst.binDir, tool);
      writeFileSync(path, `#!/usr/bin/env bash\nexec "${process.execPath}" "${join(opts.repoDir, 'twin', 'instances', 'cli', `${tool}.ts`)}" "$@"\n`);
      chmodSync(path, 0o755);
    }
    instances.set(o.instanceId, inst);
    return inst;
  }

  function instanceEnv(inst: Instance, extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: `${inst.binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: inst.homeDir,
      LANG: 'C.UTF-8',
      MPC_DATA_DIR: inst.dataDir,
      AWS_ENDPOINT_URL: opts.awsEndpointUrl,
      AWS_REGION: opts.region,
      AWS_DEFAULT_REGION: opts.region,
      AWS_ACCESS_KEY_ID: opts.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: opts.credentials.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      TWIN_DOCKERD_URL: dockerdUrl,
      TWIN_INSTANCE_ID: inst.instanceId,
      ...extra,
    };
  }

  /** Run a script on an instance as AWS-RunShellScript does; the execution timeout kills the process group. */
  function runScript(instanceId: string, script: string, timeoutSeconds: number, extraEnv: Record<string, string> = {}): RunningCommand {
    const inst = instances.get(instanceId);
    if (!inst) throw new Error(`no instance ${instanceId}`);
    const file = join(inst.dir, 'run', `${randomUUID()}.sh`);
    writeFileSync(file, script, { mode: 0o700 });
    const child = spawn('bash', [file], { cwd: inst.homeDir, env: instanceEnv(inst, extraEnv), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
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
    }, timeoutSeconds * 1000);
    const done = new Promise<{ exitCode: number; stdout: string; stderr: string; timedOut: boolean }>((ok) => {
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        children.delete(child);
        ok({ exitCode: code ?? (signal ? 137 : 1), stdout, stderr, timedOut });
      });
    });
    return { done, cancel: kill };
  }

  const host: InstanceHost = {
    describe: () =>
      [...instances.values()].map((i) => ({
        instanceId: i.instanceId, pingStatus: i.ping, ipAddress: i.privateIp, computerName: `ip-${i.privateIp.replace(/\./g, '-')}.ec2.internal`,
        platformName: 'Amazon Linux', platformVersion: '2023',
      })),
    run: (id, commands, o) => runScript(id, commands.join('\n') + '\n', o.executionTimeoutSeconds),
  };

  return {
    ...host,
    dockerdUrl,
    addInstance,
    instance: (id: string) => instances.get(id),
    setPing(id: string, ping: InstanceInfo['pingStatus']) {
      const i = instances.get(id);
      if (i) i.ping = ping;
    },
    /** First boot, like EC2 UserData: runs bootstrap.sh with the given parameters. */
    async bootstrap(id: string, env: Record<string, string>, timeoutSeconds = 900) {
      const script = `exec bash "${join(opts.repoDir, 'twin', 'instances', 'bootstrap.sh')}"\n`;
      return runScript(id, script, timeoutSeconds, env).done;
    },
    docker: runtime.docker,
    container: runtime.container,
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

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}
