/**
 * The twin's EC2 instances. Each is a sandbox folder `<rootDir>/<instance-id>/`: `data/` is the
 * node's /data (given to commands as MPC_DATA_DIR), `bin/` puts the `docker` and `aws` stand-ins
 * first on PATH (`jq`, `curl`, `bash` are the system's), `home/` is HOME, `run/` holds the command
 * scripts, `var/log/cloud-init-output.log` the first boot's output. The instance has a private
 * 127.x address that its containers bind to (TWIN_HOST_IP).
 *
 * Reachability between instances follows security-group ingress rules (`network`): the `curl`
 * stand-in in each instance's bin/ and the node program ask the fleet (POST /network/reach on the
 * docker socket) before they connect to an instance address. A connection the rules forbid is
 * dropped (the caller times out), never refused; an instance always reaches its own address.
 * Without `network` every connection is allowed.
 *
 * SSM commands run as AWS-RunShellScript does (see shell.ts): under `sh` — dash on the NEAR base,
 * bash as `sh` on the MPC nodes — with the agent's environment (AWS_SSM_REGION_NAME, no AWS_REGION);
 * `aws` finds its region from --region, its config, or the instance metadata service (imds.ts),
 * which a test may turn off per instance. Containers started by `docker run` belong to
 * the container runtime, not to the command, so they outlive it.
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, appendFileSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { CommandResult, InstanceHost, InstanceInfo, RunningCommand } from '../aws/instance-host.ts';
import {
  createContainerRuntime,
  type ContainerRuntimeOptions,
  type DockerResult,
  type ImageTable,
} from './containers.ts';
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
  /** Security groups by name and their ingress rules; instances name the groups they are in. Absent: no filtering. */
  network?: { securityGroups: Record<string, IngressRule[]> };
  /** Container runtime tuning (restart backoff, stop timeout). */
  runtime?: Pick<ContainerRuntimeOptions, 'restartBackoff' | 'defaultStopTimeoutSeconds' | 'maxLogLines'>;
}

/** One ingress rule of a security group, as EC2 holds it (tcp only). */
export interface IngressRule {
  protocol: 'tcp';
  port: number;
  source: { securityGroup: string } | { cidr: string };
  description?: string;
}

export interface Instance {
  instanceId: string;
  privateIp: string;
  role: 'mpc-node' | 'near-base';
  name: string;
  /** Security groups the instance is in (their ingress rules decide who reaches it). */
  securityGroups: string[];
  /** Extra facts its containers see (e.g. how far its node's chain view lags). */
  containerEnv: Record<string, string>;
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

/** Where the system's own programs (curl, bash) are found. */
const SYSTEM_PATH = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';

/** An instance as SSM's DescribeInstanceInformation lists it. */
function instanceInfo(i: Instance): InstanceInfo {
  return {
    instanceId: i.instanceId,
    pingStatus: i.ping,
    ipAddress: i.privateIp,
    computerName: `ip-${i.privateIp.replace(/\./g, '-')}.ec2.internal`,
    platformName: 'Amazon Linux',
    platformVersion: '2023',
  };
}

export async function createFleet(opts: FleetOptions) {
  const instances = new Map<string, Instance>();
  let dockerdUrl = '';
  const runtime = createContainerRuntime({
    images: opts.images,
    hostEnv: (id) => ({
      ...(opts.containerEnv ?? {}),
      ...(instances.get(id)?.containerEnv ?? {}),
      TWIN_HOST_IP: instances.get(id)?.privateIp ?? '127.0.0.1',
      TWIN_INSTANCE_ID: id,
      TWIN_NETWORK_URL: `${dockerdUrl}/network/reach`,
    }),
    ...(opts.runtime ?? {}),
  });
  const children = new Set<ChildProcess>();
  /** Per instance: the shell its commands run under, and whether its metadata service answers. */
  const shells = new Map<string, InstanceShell>();
  const imdsOff = new Set<string>();

  const systemCurl = findExecutable('curl', SYSTEM_PATH);
  const securityGroups = new Map(Object.entries(opts.network?.securityGroups ?? {}));
  const reach = (fromId: string, host: string, port: number) =>
    !opts.network || mayConnect(instances, securityGroups, fromId, host, port);

  const dockerd = await startInstanceServices({
    docker: (id, argv, env) => (instances.has(id) ? runtime.docker(id, argv, env) : undefined),
    imds: (id) => (instances.has(id) ? { region: opts.region, enabled: !imdsOff.has(id) } : undefined),
    reach: (q) => q.targets.map((t) => reach(q.instanceId, t.host, Number(t.port))),
  });
  dockerdUrl = `http://127.0.0.1:${(dockerd.address() as AddressInfo).port}`;

  function addInstance(o: {
    instanceId: string;
    privateIp: string;
    role: Instance['role'];
    name: string;
    securityGroups?: string[];
    containerEnv?: Record<string, string>;
  }): Instance {
    if (instances.has(o.instanceId)) throw new Error(`instance ${o.instanceId} exists already`);
    const dir = join(opts.rootDir, o.instanceId);
    const inst: Instance = {
      ...o,
      securityGroups: o.securityGroups ?? [],
      containerEnv: o.containerEnv ?? {},
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
    writeStandIns(inst.binDir, opts.repoDir, systemCurl);
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

  const describe = (): InstanceInfo[] => [...instances.values()].map(instanceInfo);

  const host: InstanceHost = {
    describe,
    info: (id) => {
      const i = instances.get(id);
      return i && instanceInfo(i);
    },
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
    /** May instance `fromId` open a TCP connection to host:port under the current rules? */
    reach,
    /** The ingress rules of each security group (a copy). */
    securityGroups: (): Record<string, IngressRule[]> => structuredClone(Object.fromEntries(securityGroups)),
    /** Replace a security group's ingress rules (as AuthorizeSecurityGroupIngress/Revoke… would). */
    setIngress(group: string, rules: IngressRule[]) {
      securityGroups.set(group, structuredClone(rules));
    },
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
    /** Start the node host processes now (they load while the instances boot). */
    prewarmHosts: () => runtime.prewarmHosts(),
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
 * The "docker socket": the docker stand-in on each instance POSTs its argv to /docker (a form: `i` the
 * instance, `a` each argument, `e` NAME=value per variable passed by name; or the same as JSON) and
 * asks for the answer as runs of output (`accept: text/x-twin-docker-runs`, see dockerAnswerAsRuns) or JSON;
 * curl and the node program ask POST /network/reach. The same server answers each instance's metadata
 * service under /imds/<instance-id>/ (imds.ts).
 */
async function startInstanceServices(o: {
  docker: (instanceId: string, argv: string[], env: Record<string, string>) => Promise<DockerResult> | undefined;
  imds: (instanceId: string) => ImdsInstance | undefined;
  reach: (q: { instanceId: string; targets: { host: string; port: number }[] }) => boolean[];
}) {
  const server = createServer(async (req, res) => {
    const asRuns = (req.headers.accept ?? '').includes(DOCKER_RUNS_TYPE);
    const answer = (r: Pick<DockerResult, 'exitCode' | 'chunks'>) => {
      const body = Buffer.from(asRuns ? dockerAnswerAsRuns(r) : JSON.stringify(r));
      res.writeHead(200, {
        'content-type': asRuns ? DOCKER_RUNS_TYPE : 'application/json',
        'content-length': body.length,
      });
      res.end(body);
    };
    try {
      if (serveImds(req, res, o.imds)) return;
      if (req.method === 'POST' && req.url === '/network/reach') {
        const allowed = Buffer.from(JSON.stringify({ allowed: o.reach(JSON.parse(await readBody(req))) }));
        // Its length, so bin/curl (http.sh) reads the answer in bash, not with a `cat` per question.
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': allowed.length });
        res.end(allowed);
        return;
      }
      if (req.method !== 'POST' || req.url !== '/docker') {
        res.writeHead(404).end();
        return;
      }
      const body = parseDockerRequest(req.headers['content-type'] ?? '', await readBytes(req));
      const result = await o.docker(body.instanceId, body.argv, body.env);
      if (result === undefined) throw new Error(`unknown instance ${body.instanceId}`);
      answer(result);
    } catch (e) {
      const text = `Error response from daemon: ${(e as Error).message}\n`;
      if (asRuns) return answer({ exitCode: 1, chunks: [{ stream: 'stderr', text }] });
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ exitCode: 1, chunks: [{ stream: 'stderr', text }] }));
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  return server;
}

/** A docker request: length-prefixed fields (the bash stand-in: `<key><bytes>:<value>`, keys i, a, e), or JSON. */
function parseDockerRequest(type: string, body: Buffer) {
  if (type.includes('application/json')) {
    const j = JSON.parse(body.toString('utf8')) as { instanceId: string; argv: string[]; env?: Record<string, string> };
    return { instanceId: j.instanceId, argv: j.argv, env: j.env ?? {} };
  }
  const fields: Record<'i' | 'a' | 'e', string[]> = { i: [], a: [], e: [] };
  for (let at = 0; at < body.length; ) {
    const key = String.fromCharCode(body[at]!) as keyof typeof fields;
    const colon = body.indexOf(0x3a, at);
    const len = Number(body.subarray(at + 1, colon).toString('latin1'));
    if (!(key in fields) || colon < 0 || !Number.isInteger(len)) throw new Error('malformed request');
    fields[key].push(body.subarray(colon + 1, colon + 1 + len).toString('utf8'));
    at = colon + 1 + len;
  }
  const env: Record<string, string> = {};
  for (const kv of fields.e) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return { instanceId: fields.i[0] ?? '', argv: fields.a, env };
}

/**
 * A docker answer as the stand-in replays it without parsing the output as shell: `exit <code>`, then one
 * line `<1|2> <bytes>` per run of output on the same stream (1 stdout, 2 stderr) in the order written, a
 * blank line, the runs' text back to back, and a `.` (so the HTTP reader's trailing-newline trim keeps the
 * text's own). The stand-in prints each run by its byte count. (A shell string holds no NUL byte: those
 * are dropped.)
 */
export function dockerAnswerAsRuns(r: Pick<DockerResult, 'exitCode' | 'chunks'>): string {
  const runs: { fd: 1 | 2; text: string }[] = [];
  for (const c of r.chunks) {
    const fd = c.stream === 'stderr' ? 2 : 1;
    const text = c.text.replace(/\0/g, '');
    const last = runs[runs.length - 1];
    if (last?.fd === fd) last.text += text;
    else if (text) runs.push({ fd, text });
  }
  const head = [`exit ${r.exitCode}`, ...runs.map((x) => `${x.fd} ${Buffer.byteLength(x.text)}`)];
  return `${head.join('\n')}\n\n${runs.map((x) => x.text).join('')}.`;
}

const DOCKER_RUNS_TYPE = 'text/x-twin-docker-runs';

/** bin/ of an instance: the docker and aws stand-ins, curl (when the system has one), sudo. */
function writeStandIns(binDir: string, repoDir: string, systemCurl: string | undefined) {
  const cliDir = join(repoDir, 'twin', 'instances', 'cli');
  // docker: a bash script (one curl per call); aws: a bash fast path in front of the faithful stand-in.
  const awsStandIn = `${shq(process.execPath)} ${shq(join(cliDir, 'aws.ts'))}`;
  writeFileSync(join(binDir, 'docker'), withHttp(cliDir, 'docker.sh'), { mode: 0o755 });
  writeFileSync(
    join(binDir, 'aws'),
    withHttp(cliDir, 'aws.sh').replace('@AWS_STAND_IN@', () => awsStandIn),
    {
      mode: 0o755,
    },
  );
  // curl asks the fleet whether the security groups let this instance reach the address it dials.
  if (systemCurl) writeFileSync(join(binDir, 'curl'), curlWrapper(systemCurl, repoDir), { mode: 0o755 });
  // SSM commands run as root; `sudo …` in operator scripts just runs the command (options dropped).
  writeFileSync(
    join(binDir, 'sudo'),
    [
      shebang(),
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
}

/** The stand-ins' #! line: bash by its path (no `env` process in front of every docker, aws or curl call). */
let bashLine: string | undefined;
function shebang(): string {
  bashLine ??= `#!${findExecutable('bash', SYSTEM_PATH) ?? '/usr/bin/env bash'}`;
  return bashLine;
}

/** A bash stand-in with twin_post (http.sh) put in after its #! line. */
function withHttp(cliDir: string, script: string): string {
  const text = readFileSync(join(cliDir, script), 'utf8');
  const eol = text.indexOf('\n') + 1;
  return `${shebang()}\n${readFileSync(join(cliDir, 'http.sh'), 'utf8')}${text.slice(eol)}`;
}

/**
 * bin/curl: the fast path in bash — every http(s):// URL among the arguments is allowed (one question
 * to the fleet, over bash's /dev/tcp), so the system curl runs, bound to the instance address when it
 * dials an instance. One URL the rules drop, in the plain form probes use, times out in bash too
 * (cli/curl-dropped.sh). Anything else (other drops, arguments without a URL) goes to the faithful stand-in
 * (cli/curl.ts), which parses curl's options and times out as curl does.
 */
function curlWrapper(systemCurl: string, repoDir: string): string {
  const stand = `${shq(process.execPath)} ${shq(join(repoDir, 'twin', 'instances', 'cli', 'curl.ts'))}`;
  return [
    shebang(),
    readFileSync(join(repoDir, 'twin', 'instances', 'cli', 'http.sh'), 'utf8'),
    readFileSync(join(repoDir, 'twin', 'instances', 'cli', 'curl-dropped.sh'), 'utf8'),
    `SYS=${shq(systemCurl)}`,
    `slow() { TWIN_SYSTEM_CURL="$SYS" exec ${stand} "$@"; }`,
    '[ -n "${TWIN_DOCKERD_URL:-}" ] || exec "$SYS" "$@"',
    'targets=() bind=""',
    'for a in "$@"; do',
    '  [ "$a" = --interface ] && bind=no',
    '  if [[ $a =~ ^(https?)://([^/:?#@]+)(:([0-9]+))? ]]; then',
    '    h=${BASH_REMATCH[2]} p=${BASH_REMATCH[4]}',
    '    [ -n "$p" ] || { [ "${BASH_REMATCH[1]}" = https ] && p=443 || p=80; }',
    '    targets+=("{\\"host\\":\\"$h\\",\\"port\\":$p}")',
    '    [[ -z $bind && $h =~ ^127\\. && $h != 127.0.0.1 ]] && bind=yes',
    '  fi',
    'done',
    '[ ${#targets[@]} -gt 0 ] || slow "$@"',
    'IFS=, body="{\\"instanceId\\":\\"$TWIN_INSTANCE_ID\\",\\"targets\\":[${targets[*]}]}"',
    'twin_post "$TWIN_DOCKERD_URL" /network/reach application/json "$body" || slow "$@"',
    'v=$REPLY_BODY',
    '[[ $v == *\\"allowed\\":* ]] || slow "$@"',
    '[[ $v != *false* ]] || { [ ${#targets[@]} -eq 1 ] && dropped_transfer "$@"; slow "$@"; }',
    '[ "$bind" = yes ] && exec "$SYS" --interface "$TWIN_INSTANCE_IP" "$@"',
    'exec "$SYS" "$@"',
    '',
  ].join('\n');
}

/** May `fromId` open a TCP connection to host:port? (Security-group ingress of the instance at `host`.) */
function mayConnect(
  instances: Map<string, Instance>,
  securityGroups: Map<string, IngressRule[]>,
  fromId: string,
  host: string,
  port: number,
): boolean {
  const from = instances.get(fromId);
  if (!from) return true;
  const to = [...instances.values()].find((i) => i.privateIp === host);
  if (!to || to === from || host === 'localhost') return true;
  if (to.securityGroups.length === 0) return true;
  return to.securityGroups.some((g) =>
    (securityGroups.get(g) ?? []).some(
      (r) =>
        r.protocol === 'tcp' &&
        r.port === port &&
        ('securityGroup' in r.source
          ? from.securityGroups.includes(r.source.securityGroup)
          : inCidr(from.privateIp, r.source.cidr)),
    ),
  );
}

function findExecutable(name: string, path: string): string | undefined {
  for (const dir of path.split(':')) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** Is the IPv4 address inside the CIDR block? */
export function inCidr(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/');
  const n = Number(bits ?? 32);
  const toInt = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = n === 0 ? 0 : 2 ** 32 - 2 ** (32 - n);
  return (toInt(ip) & mask) >>> 0 === (toInt(net!) & mask) >>> 0;
}

/** Single-quote for bash. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function readBytes(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function readBody(req: IncomingMessage): Promise<string> {
  return (await readBytes(req)).toString('utf8');
}
