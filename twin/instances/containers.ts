/**
 * The twin's container runtime ("dockerd"): per instance, containers whose process is a real OS
 * process. `run` creates a fresh container; `restart`/`stop`/`start` keep its env and mounts; logs
 * are kept with timestamps for `docker logs --since`; `--restart=always` restarts a crashed process
 * with backoff. The `docker` command on an instance forwards its argv here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface ImageTable {
  [image: string]: { command: string[] };
}

interface LogLine { at: number; stream: 'stdout' | 'stderr'; text: string }

interface Container {
  id: string;
  name: string;
  image: string;
  args: string[];
  env: Record<string, string>;
  mounts: { host: string; container: string }[];
  restartPolicy: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  created: number;
  proc?: ChildProcess;
  pid: number;
  running: boolean;
  restarting: boolean;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  restartCount: number;
  stoppedByUser: boolean;
  logs: LogLine[];
}

export interface DockerResult { exitCode: number; stdout: string; stderr: string }

const MAX_LOG_LINES = 20_000;

function ago(ms: number): string {
  const s = Math.max(1, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} second${s === 1 ? '' : 's'}`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'}`;
  return `${Math.round(m / 60)} hours`;
}

function parseSince(v: string): number {
  const rel = /^(\d+(?:\.\d+)?)(s|m|h)$/.exec(v);
  if (rel) return Date.now() - Number(rel[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[rel[2] as 's' | 'm' | 'h'];
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new Error(`invalid value for "since": failed to parse value as time or duration: "${v}"`);
  return t;
}

/** Tiny Go-template subset: {{.A.B}}, {{json .A}}. */
function render(template: string, data: unknown): string {
  return template
    .replace(/\\n/g, '\n')
    .replace(/\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}/g, (_, json: string | undefined, path: string) => {
      const v = path ? path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), data) : data;
      return json ? JSON.stringify(v) : v === undefined ? '<no value>' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    });
}

export function createContainerRuntime(opts: { images: ImageTable; hostEnv: (instanceId: string) => Record<string, string> }) {
  const byInstance = new Map<string, Map<string, Container>>();
  const containers = (i: string) => byInstance.get(i) ?? byInstance.set(i, new Map()).get(i)!;

  function find(instanceId: string, ref: string): Container | undefined {
    const all = containers(instanceId);
    return all.get(ref) ?? [...all.values()].find((c) => c.id.startsWith(ref));
  }

  function launch(instanceId: string, c: Container) {
    const image = opts.images[c.image]!;
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...opts.hostEnv(instanceId) };
    for (const [k, v] of Object.entries(c.env)) {
      const mount = c.mounts.find((m) => v === m.container || v.startsWith(`${m.container}/`));
      env[k] = mount ? mount.host + v.slice(mount.container.length) : v;
    }
    const proc = spawn(image.command[0]!, [...image.command.slice(1), ...c.args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    c.proc = proc;
    c.pid = proc.pid ?? 0;
    c.running = true;
    c.restarting = false;
    c.startedAt = Date.now();
    c.stoppedByUser = false;
    const capture = (stream: 'stdout' | 'stderr') => {
      let partial = '';
      proc[stream]!.on('data', (d: Buffer) => {
        const lines = (partial + d.toString('utf8')).split('\n');
        partial = lines.pop()!;
        for (const text of lines) c.logs.push({ at: Date.now(), stream, text });
        if (c.logs.length > MAX_LOG_LINES) c.logs.splice(0, c.logs.length - MAX_LOG_LINES);
      });
      proc[stream]!.on('end', () => {
        if (partial) c.logs.push({ at: Date.now(), stream, text: partial });
      });
    };
    capture('stdout');
    capture('stderr');
    proc.on('exit', (code, signal) => {
      if (c.proc !== proc) return;
      c.running = false;
      c.finishedAt = Date.now();
      c.exitCode = code ?? (signal ? 128 + 15 : 0);
      c.proc = undefined;
      const policy = c.restartPolicy;
      const again = !c.stoppedByUser && (policy === 'always' || policy === 'unless-stopped' || (policy === 'on-failure' && c.exitCode !== 0));
      if (again) {
        c.restarting = true;
        const delay = Math.min(2000, 100 * 2 ** Math.min(c.restartCount, 5));
        setTimeout(() => {
          if (!c.restarting || !containers(instanceId).has(c.name)) return;
          c.restartCount++;
          launch(instanceId, c);
        }, delay).unref();
      }
    });
  }

  async function stopProc(c: Container) {
    c.stoppedByUser = true;
    c.restarting = false;
    const p = c.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((ok) => {
      const kill = setTimeout(() => p.kill('SIGKILL'), 10_000);
      p.once('exit', () => {
        clearTimeout(kill);
        ok();
      });
      p.kill('SIGTERM');
    });
  }

  const status = (c: Container) =>
    c.running ? `Up ${ago(c.startedAt)}` : c.restarting ? `Restarting (${c.exitCode}) ${ago(c.finishedAt)} ago` : c.finishedAt ? `Exited (${c.exitCode}) ${ago(c.finishedAt)} ago` : 'Created';
  const state = (c: Container) => (c.running ? 'running' : c.restarting ? 'restarting' : c.finishedAt ? 'exited' : 'created');
  const inspectView = (c: Container) => ({
    Id: c.id, Name: `/${c.name}`, Created: new Date(c.created).toISOString(), RestartCount: c.restartCount,
    State: {
      Status: state(c), Running: c.running, Restarting: c.restarting, Pid: c.running ? c.pid : 0, ExitCode: c.exitCode,
      StartedAt: c.startedAt ? new Date(c.startedAt).toISOString() : '0001-01-01T00:00:00Z', FinishedAt: c.finishedAt ? new Date(c.finishedAt).toISOString() : '0001-01-01T00:00:00Z',
    },
    Config: { Image: c.image, Env: Object.entries(c.env).map(([k, v]) => `${k}=${v}`), Cmd: c.args },
    HostConfig: { RestartPolicy: { Name: c.restartPolicy }, NetworkMode: 'host', Binds: c.mounts.map((m) => `${m.host}:${m.container}`) },
    Mounts: c.mounts.map((m) => ({ Type: 'bind', Source: m.host, Destination: m.container })),
  });

  /** Run one `docker …` command line for an instance; callerEnv resolves `-e NAME` without a value. */
  async function docker(instanceId: string, argv: string[], callerEnv: Record<string, string> = {}): Promise<DockerResult> {
    const out: string[] = [];
    const ok = (stdout = ''): DockerResult => ({ exitCode: 0, stdout, stderr: '' });
    const fail = (msg: string, code = 1): DockerResult => ({ exitCode: code, stdout: out.join(''), stderr: `${msg}\n` });
    const noSuch = (ref: string) => fail(`Error response from daemon: No such container: ${ref}`);
    const [cmd, ...rest] = argv;
    try {
      switch (cmd) {
        case 'run': {
          const c: Partial<Container> & { env: Record<string, string>; mounts: Container['mounts'] } = { env: {}, mounts: [], restartPolicy: 'no' };
          let detach = false;
          let entrypoint: string | undefined;
          let i = 0;
          const val = (flag: string) => {
            const a = rest[i]!;
            if (a.includes('=') && a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
            i++;
            if (rest[i] === undefined) throw new Error(`flag needs an argument: ${flag}`);
            return rest[i]!;
          };
          for (; i < rest.length && rest[i]!.startsWith('-'); i++) {
            const a = rest[i]!;
            const flag = a.split('=')[0]!;
            if (flag === '-d' || flag === '--detach') detach = true;
            else if (flag === '--rm' || flag === '-i' || flag === '-t' || flag === '-it') continue;
            else if (flag === '--name') c.name = val('--name');
            else if (flag === '--restart') c.restartPolicy = val('--restart') as Container['restartPolicy'];
            else if (flag === '--net' || flag === '--network') val(flag);
            else if (flag === '-v' || flag === '--volume') {
              const [host, container] = val(flag).split(':');
              c.mounts.push({ host: host!, container: container! });
            } else if (flag === '-e' || flag === '--env') {
              const kv = val(flag);
              const eq = kv.indexOf('=');
              if (eq > 0) c.env[kv.slice(0, eq)] = kv.slice(eq + 1);
              else if (callerEnv[kv] !== undefined) c.env[kv] = callerEnv[kv]!;
            } else if (flag === '--entrypoint') entrypoint = val('--entrypoint');
            else return fail(`unknown flag: ${flag}\nSee 'docker run --help'.`, 125);
          }
          const image = rest[i];
          if (!image) return fail('"docker run" requires at least 1 argument.', 125);
          if (!opts.images[image]) {
            return fail(`Unable to find image '${image}' locally\ndocker: Error response from daemon: pull access denied for ${image.split(':')[0]}, repository does not exist or may require 'docker login'.`, 125);
          }
          const name = c.name ?? `twin_${randomBytes(3).toString('hex')}`;
          if (containers(instanceId).has(name)) {
            const other = containers(instanceId).get(name)!;
            return fail(`docker: Error response from daemon: Conflict. The container name "/${name}" is already in use by container "${other.id}". You have to remove (or rename) that container to be able to reuse that name.`, 125);
          }
          void entrypoint; // the image table maps the image (and its /app/mpc-node entrypoint) to the twin's program
          const container: Container = {
            id: randomBytes(32).toString('hex'), name, image, args: rest.slice(i + 1), env: c.env, mounts: c.mounts, restartPolicy: c.restartPolicy ?? 'no',
            created: Date.now(), pid: 0, running: false, restarting: false, startedAt: 0, finishedAt: 0, exitCode: 0, restartCount: 0, stoppedByUser: false, logs: [],
          };
          containers(instanceId).set(name, container);
          launch(instanceId, container);
          return ok(detach ? `${container.id}\n` : '');
        }
        case 'restart':
        case 'stop':
        case 'start': {
          const refs = rest.filter((a) => !a.startsWith('-'));
          let stderr = '';
          for (const ref of refs) {
            const c = find(instanceId, ref);
            if (!c) {
              stderr += `Error response from daemon: No such container: ${ref}\n`;
              continue;
            }
            if (cmd !== 'start') await stopProc(c);
            if (cmd !== 'stop' && !c.running) launch(instanceId, c);
            out.push(`${ref}\n`);
          }
          return { exitCode: stderr ? 1 : 0, stdout: out.join(''), stderr };
        }
        case 'rm': {
          const force = rest.some((a) => a === '-f' || a === '--force');
          for (const ref of rest.filter((a) => !a.startsWith('-'))) {
            const c = find(instanceId, ref);
            if (!c) return noSuch(ref);
            if (c.running && !force) return fail(`Error response from daemon: cannot remove container "/${c.name}": container is running: stop the container before removing or force remove`);
            await stopProc(c);
            containers(instanceId).delete(c.name);
            out.push(`${ref}\n`);
          }
          return ok(out.join(''));
        }
        case 'ps': {
          const all = rest.includes('-a') || rest.includes('--all');
          const fi = rest.indexOf('--filter');
          const filter = fi >= 0 ? rest[fi + 1] : rest.find((a) => a.startsWith('--filter='))?.slice(9);
          const fmtIdx = rest.indexOf('--format');
          const format = fmtIdx >= 0 ? rest[fmtIdx + 1] : rest.find((a) => a.startsWith('--format='))?.slice(9);
          let list = [...containers(instanceId).values()].filter((c) => all || c.running || c.restarting);
          if (filter?.startsWith('name=')) list = list.filter((c) => c.name.includes(filter.slice(5)));
          const rows = list.map((c) => ({ ID: c.id.slice(0, 12), Image: c.image, Command: `"/app/mpc-node ${c.args.join(' ')}"`, Status: status(c), State: state(c), Names: c.name }));
          if (format) return ok(rows.map((r) => render(format, r)).join('\n') + (rows.length ? '\n' : ''));
          const header = 'CONTAINER ID   IMAGE                     COMMAND                  STATUS                   NAMES';
          return ok([header, ...rows.map((r) => `${r.ID}   ${r.Image.padEnd(25)} ${r.Command.slice(0, 24).padEnd(24)} ${r.Status.padEnd(24)} ${r.Names}`)].join('\n') + '\n');
        }
        case 'logs': {
          let since: number | undefined;
          let tail: number | undefined;
          let timestamps = false;
          let ref: string | undefined;
          for (let i = 0; i < rest.length; i++) {
            const a = rest[i]!;
            if (a === '--since') since = parseSince(rest[++i]!);
            else if (a.startsWith('--since=')) since = parseSince(a.slice(8));
            else if (a === '--tail' || a === '-n') tail = rest[++i] === 'all' ? undefined : Number(rest[i]);
            else if (a.startsWith('--tail=')) tail = a.slice(7) === 'all' ? undefined : Number(a.slice(7));
            else if (a === '-t' || a === '--timestamps') timestamps = true;
            else if (!a.startsWith('-')) ref = a;
          }
          const c = ref ? find(instanceId, ref) : undefined;
          if (!c) return noSuch(ref ?? '');
          let lines = c.logs.filter((l) => since === undefined || l.at >= since);
          if (tail !== undefined) lines = lines.slice(Math.max(0, lines.length - tail));
          const fmt = (l: LogLine) => `${timestamps ? `${new Date(l.at).toISOString().replace('Z', '000000Z')} ` : ''}${l.text}\n`;
          return { exitCode: 0, stdout: lines.filter((l) => l.stream === 'stdout').map(fmt).join(''), stderr: lines.filter((l) => l.stream === 'stderr').map(fmt).join('') };
        }
        case 'inspect': {
          const fmtIdx = rest.findIndex((a) => a === '--format' || a === '-f');
          const format = fmtIdx >= 0 ? rest[fmtIdx + 1] : rest.find((a) => a.startsWith('--format='))?.slice(9);
          const refs = rest.filter((a, i) => !a.startsWith('-') && i !== fmtIdx + 1);
          const views: unknown[] = [];
          for (const ref of refs) {
            const c = find(instanceId, ref);
            if (!c) return { exitCode: 1, stdout: format ? '' : '[]\n', stderr: `Error: No such object: ${ref}\n` };
            views.push(inspectView(c));
          }
          if (format) return ok(views.map((v) => render(format, v)).join('\n') + '\n');
          return ok(JSON.stringify(views, null, 4) + '\n');
        }
        case 'version':
        case '--version':
          return ok('Docker version 28.2.2, build twin\n');
        default:
          return fail(`docker: '${cmd}' is not a docker command.\nSee 'docker --help'`);
      }
    } catch (e) {
      return fail(`Error: ${(e as Error).message}`, 125);
    }
  }

  return {
    docker,
    container: (instanceId: string, name: string) => {
      const c = containers(instanceId).get(name);
      return c ? inspectView(c) : undefined;
    },
    async stopAll() {
      for (const m of byInstance.values()) for (const c of m.values()) await stopProc(c);
    },
  };
}
export type ContainerRuntime = ReturnType<typeof createContainerRuntime>;
