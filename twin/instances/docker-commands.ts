/**
 * `docker …` command lines on a twin instance: run (options as the CLI parses them), ps, logs,
 * inspect, start/stop/restart/kill, rm — with the real CLI's output formats, error texts and exit
 * codes (1 daemon errors, 125 `run` errors).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import {
  type Container,
  containers,
  type DockerResult,
  find,
  inspectView,
  launch,
  manualStart,
  psRow,
  type RestartPolicy,
  type Runtime,
  state,
  stopProc,
  waitExit,
} from './container-core.ts';
import {
  ADJECTIVES,
  DockerError,
  NAMES,
  normaliseImage,
  nowMs,
  PS_HEADERS,
  parseDockerTime,
  renderTemplate,
  rfc3339Nano,
  tabulate,
} from './docker-format.ts';

interface Out {
  chunks: DockerResult['chunks'];
}
const say = (o: Out, text: string) => text && o.chunks.push({ stream: 'stdout', text });
const err = (o: Out, text: string) => text && o.chunks.push({ stream: 'stderr', text });

const RUN_HELP = "\nSee 'docker run --help'.";
const DAEMON = 'docker: Error response from daemon:';
const FORCE = 'stop the container before removing or force remove\n';
const RUN_WITH_VALUE = new Set(
  (
    '--name --restart --net --network -v --volume -e --env --entrypoint -p --publish -w --workdir -u --user ' +
    '--log-driver --log-opt --label -l --hostname -h --memory -m --cpus --pull --platform --add-host ' +
    '--stop-timeout --env-file'
  ).split(' '),
);
const RUN_BOOLEAN = new Set(
  '-d --detach --rm -i --interactive -t --tty -it -dit -itd --init --privileged --read-only'.split(' '),
);

type RunSpec = {
  name: string | undefined;
  env: Record<string, string>;
  mounts: Container['mounts'];
  restartPolicy: RestartPolicy;
  networkMode: string;
  entrypoint: string | undefined;
  detach: boolean;
  autoRemove: boolean;
  image: string;
  args: string[];
};

/** Parse `docker run` options; returns the container spec or throws DockerError. */
function parseRun(rest: string[], callerEnv: Record<string, string>): RunSpec {
  const spec: RunSpec = {
    name: undefined,
    env: {},
    mounts: [],
    restartPolicy: { name: 'no', maxRetries: 0 },
    networkMode: 'bridge',
    entrypoint: undefined,
    detach: false,
    autoRemove: false,
    image: '',
    args: [],
  };
  let i = 0;
  for (; i < rest.length; i++) {
    const a = rest[i]!;
    if (!a.startsWith('-') || a === '-') break;
    if (a === '--') {
      i++;
      break;
    }
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (RUN_BOOLEAN.has(flag)) {
      if (flag.includes('d'))
        spec.detach = spec.detach || flag === '-d' || flag === '--detach' || /^-[it]*d[it]*$/.test(flag);
      if (flag === '--rm') spec.autoRemove = true;
      continue;
    }
    // Clustered short flags like -de are rare; report as docker does.
    if (!RUN_WITH_VALUE.has(flag)) throw new DockerError(`unknown flag: ${flag}${RUN_HELP}`, 125);
    let v: string | undefined;
    if (a.startsWith('--') && eq > 0) v = a.slice(eq + 1);
    else {
      v = rest[++i];
      if (v === undefined)
        throw new DockerError(`flag needs an argument: '${flag.replace(/^-+/, '')}' in ${flag}${RUN_HELP}`, 125);
    }
    applyRunOption(spec, flag, v, callerEnv);
  }
  if (spec.autoRemove && spec.restartPolicy.name !== 'no')
    throw new DockerError(`docker: Conflicting options: --restart and --rm.${RUN_HELP}`, 125);
  spec.image = rest[i] ?? '';
  spec.args = rest.slice(i + 1);
  if (!spec.image)
    throw new DockerError(
      "docker: 'docker run' requires at least 1 argument\n\n" +
        'Usage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n' +
        "See 'docker run --help' for more information",
      1,
    );
  return spec;
}

/** One `docker run` option with its value. */
function applyRunOption(spec: RunSpec, flag: string, v: string, callerEnv: Record<string, string>) {
  switch (flag) {
    case '--name':
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(v))
        throw new DockerError(
          `${DAEMON} Invalid container name (${v}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed.${RUN_HELP}`,
          125,
        );
      spec.name = v;
      break;
    case '--restart': {
      const [name, max] = v.split(':');
      if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(name!))
        throw new DockerError(`docker: invalid restart policy format: ${v}${RUN_HELP}`, 125);
      spec.restartPolicy = { name: name as RestartPolicy['name'], maxRetries: Number(max ?? 0) || 0 };
      break;
    }
    case '--net':
    case '--network':
      spec.networkMode = v;
      break;
    case '-v':
    case '--volume':
      spec.mounts.push(parseVolume(v));
      break;
    case '-e':
    case '--env': {
      const k = v.indexOf('=');
      if (k > 0) spec.env[v.slice(0, k)] = v.slice(k + 1);
      else if (callerEnv[v] !== undefined) spec.env[v] = callerEnv[v]!;
      break;
    }
    case '--entrypoint':
      spec.entrypoint = v;
      break;
    default:
      break; // accepted, without effect in the twin
  }
}

/** `-v host:container[:ro]`: a bind mount (named volumes are not modelled). */
function parseVolume(v: string): Container['mounts'][number] {
  const [host, container, mode] = v.split(':');
  if (!host || !container || !isAbsolute(container))
    throw new DockerError(`${DAEMON} invalid volume specification: '${v}'.${RUN_HELP}`, 125);
  if (!isAbsolute(host))
    throw new DockerError(
      `${DAEMON} create ${host}: "${host}" includes invalid characters for a local volume name, ` +
        'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, ' +
        `use absolute path.${RUN_HELP}`,
      125,
    );
  return { host, container: container.replace(/\/+$/, '') || '/', readOnly: (mode ?? '').split(',').includes('ro') };
}

async function cmdRun(
  rt: Runtime,
  instanceId: string,
  rest: string[],
  callerEnv: Record<string, string>,
  o: Out,
): Promise<number> {
  const spec = parseRun(rest, callerEnv);
  const image = normaliseImage(spec.image);
  if (!rt.images.has(image)) {
    err(o, `Unable to find image '${image}' locally\n`);
    throw new DockerError(
      `${DAEMON} pull access denied for ${image.replace(/:[^:/]+$/, '')}, ` +
        "repository does not exist or may require 'docker login': " +
        'denied: requested access to the resource is denied.\n\n' +
        "Run 'docker run --help' for more information",
      125,
    );
  }
  const all = containers(rt, instanceId);
  let name = spec.name;
  while (!name || (!spec.name && all.has(name)))
    name = `${ADJECTIVES[randomBytes(1)[0]! % 10]}_${NAMES[randomBytes(1)[0]! % 10]}${randomBytes(1)[0]! % 10}`;
  const id = randomBytes(32).toString('hex');
  const other = all.get(name);
  if (other) {
    throw new DockerError(
      `${DAEMON} Conflict. The container name "/${name}" is already in use by container "${other.id}". ` +
        'You have to remove (or rename) that container to be able to reuse that name.\n\n' +
        "Run 'docker run --help' for more information",
      125,
    );
  }
  for (const m of spec.mounts) mkdirSync(m.host, { recursive: true }); // bind sources are created, as Docker does
  const c: Container = {
    id,
    name,
    image: spec.image,
    entrypoint: spec.entrypoint,
    args: spec.args,
    env: spec.env,
    mounts: spec.mounts,
    restartPolicy: spec.restartPolicy,
    networkMode: spec.networkMode,
    autoRemove: spec.autoRemove,
    created: nowMs(),
    proc: undefined,
    pid: 0,
    running: false,
    restarting: false,
    startedAt: 0,
    finishedAt: 0,
    exitCode: 0,
    error: '',
    restartCount: 0,
    backoffMs: 0,
    restartTimer: undefined,
    manuallyStopped: false,
    logs: [],
    exitWaiters: [],
  };
  all.set(name, c);
  launch(rt, instanceId, c);
  if (spec.detach) {
    say(o, `${id}\n`);
    return 0;
  }
  // Attached: wait for the process, then hand back its output in order (the twin has no tty streaming).
  await waitExit(c);
  for (const l of c.logs) (l.stream === 'stdout' ? say : err)(o, `${l.text}\n`);
  if (c.error)
    throw new DockerError(
      `${DAEMON} failed to create task for container: ${c.error}\n\nRun 'docker run --help' for more information`,
      127,
    );
  return c.exitCode;
}

function cmdPs(rt: Runtime, instanceId: string, rest: string[], o: Out): number {
  let all = false;
  let quiet = false;
  let noTrunc = false;
  let format: string | undefined;
  const filters: [string, string][] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '-a' || a === '--all') all = true;
    else if (a === '-q' || a === '--quiet') quiet = true;
    else if (a === '-aq' || a === '-qa') all = quiet = true;
    else if (a === '--no-trunc') noTrunc = true;
    else if (a === '--filter' || a === '-f') filters.push(split(rest[++i] ?? ''));
    else if (a.startsWith('--filter=')) filters.push(split(a.slice(9)));
    else if (a === '--format') format = rest[++i];
    else if (a.startsWith('--format=')) format = a.slice(9);
    else throw new DockerError(`unknown flag: ${a}\nSee 'docker ps --help'.`, 125);
  }
  function split(f: string): [string, string] {
    const k = f.indexOf('=');
    if (k <= 0) throw new DockerError(`Error response from daemon: invalid filter '${f}'`, 1);
    return [f.slice(0, k), f.slice(k + 1)];
  }
  let list = [...containers(rt, instanceId).values()].sort((a, b) => b.created - a.created);
  if (!all && !filters.some(([k]) => k === 'status')) list = list.filter((c) => c.running || c.restarting);
  const byKey = new Map<string, string[]>();
  for (const [k, v] of filters) byKey.set(k, [...(byKey.get(k) ?? []), v]);
  for (const [k, vs] of byKey) {
    if (k === 'name') list = list.filter((c) => vs.some((v) => new RegExp(v).test(`/${c.name}`)));
    else if (k === 'id') list = list.filter((c) => vs.some((v) => c.id.startsWith(v)));
    else if (k === 'status') list = list.filter((c) => vs.includes(state(c)));
    else if (k === 'ancestor') list = list.filter((c) => vs.some((v) => normaliseImage(v) === normaliseImage(c.image)));
    else throw new DockerError(`Error response from daemon: invalid filter '${k}'`, 1);
  }
  const rows = list.map((c) => psRow(c, noTrunc));
  if (quiet) {
    say(o, rows.map((r) => `${r.ID}\n`).join(''));
    return 0;
  }
  const fmt = format ?? 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';
  if (fmt.startsWith('table')) {
    const body = fmt.slice(5).trimStart();
    const header = renderTemplate(body, Object.fromEntries(Object.keys(PS_HEADERS).map((k) => [k, PS_HEADERS[k]])));
    const lines = [header, ...rows.map((r) => renderTemplate(body, r))].flatMap((l) => l.split('\n'));
    say(o, `${tabulate(lines)}\n`);
  } else {
    say(o, rows.map((r) => `${renderTemplate(fmt, r)}\n`).join(''));
  }
  return 0;
}

function cmdLogs(rt: Runtime, instanceId: string, rest: string[], o: Out): number {
  let since: number | undefined;
  let until: number | undefined;
  let tail: number | undefined;
  let timestamps = false;
  const refs: string[] = [];
  const now = nowMs();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const next = () => {
      const v = rest[++i];
      if (v === undefined) throw new DockerError(`flag needs an argument: ${a}\nSee 'docker logs --help'.`, 125);
      return v;
    };
    const tailOf = (v: string) => (v === 'all' || Number(v) < 0 ? undefined : Number(v));
    if (a === '--since') since = parseDockerTime(next(), 'since', now);
    else if (a.startsWith('--since=')) since = parseDockerTime(a.slice(8), 'since', now);
    else if (a === '--until') until = parseDockerTime(next(), 'until', now);
    else if (a.startsWith('--until=')) until = parseDockerTime(a.slice(8), 'until', now);
    else if (a === '--tail' || a === '-n') tail = tailOf(next());
    else if (a.startsWith('--tail=')) tail = tailOf(a.slice(7));
    else if (/^-n\d+$/.test(a)) tail = Number(a.slice(2));
    else if (a === '-t' || a === '--timestamps') timestamps = true;
    else if (a === '-f' || a === '--follow' || a === '--details')
      continue; // no streaming in the twin: prints what is there
    else if (a.startsWith('-')) throw new DockerError(`unknown flag: ${a}\nSee 'docker logs --help'.`, 125);
    else refs.push(a);
  }
  if (refs.length !== 1)
    throw new DockerError(
      '"docker logs" requires exactly 1 argument.\nSee \'docker logs --help\'.\n\n' +
        'Usage:  docker logs [OPTIONS] CONTAINER\n\nFetch the logs of a container',
      1,
    );
  const c = find(rt, instanceId, refs[0]!);
  if (!c) throw new DockerError(`Error response from daemon: No such container: ${refs[0]}`, 1);
  let lines = c.logs.filter((l) => (since === undefined || l.at >= since) && (until === undefined || l.at <= until));
  if (tail !== undefined) lines = tail === 0 ? [] : lines.slice(-tail);
  for (const l of lines)
    (l.stream === 'stdout' ? say : err)(o, `${timestamps ? `${rfc3339Nano(l.at)} ` : ''}${l.text}\n`);
  return 0;
}

function cmdInspect(rt: Runtime, instanceId: string, rest: string[], o: Out, kind: 'object' | 'container'): number {
  let format: string | undefined;
  const refs: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--format' || a === '-f') format = rest[++i];
    else if (a.startsWith('--format=')) format = a.slice(9);
    else if (a === '--type') i++;
    else if (a === '-s' || a === '--size' || a.startsWith('--type=')) continue;
    else if (a.startsWith('-')) throw new DockerError(`unknown flag: ${a}\nSee 'docker inspect --help'.`, 125);
    else refs.push(a);
  }
  if (!refs.length)
    throw new DockerError(`"docker inspect" requires at least 1 argument.\nSee 'docker inspect --help'.`, 1);
  const views: unknown[] = [];
  const missing: string[] = [];
  for (const ref of refs) {
    const c = find(rt, instanceId, ref);
    if (c) views.push(inspectView(c));
    else missing.push(ref);
  }
  if (format !== undefined) for (const v of views) say(o, `${renderTemplate(format, v)}\n`);
  else say(o, `${JSON.stringify(views, null, 4)}\n`);
  for (const m of missing) err(o, `Error: No such ${kind}: ${m}\n`);
  return missing.length ? 1 : 0;
}

async function cmdLifecycle(
  rt: Runtime,
  instanceId: string,
  cmd: 'start' | 'stop' | 'restart' | 'kill',
  rest: string[],
  o: Out,
): Promise<number> {
  let timeout = rt.defaultStopTimeout;
  let signal: NodeJS.Signals = cmd === 'kill' ? 'SIGKILL' : 'SIGTERM';
  const refs: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if ((a === '-t' || a === '--time' || a === '--timeout') && cmd !== 'kill' && cmd !== 'start')
      timeout = Number(rest[++i]);
    else if (/^--(time|timeout)=/.test(a)) timeout = Number(a.split('=')[1]);
    else if ((a === '-s' || a === '--signal') && cmd === 'kill')
      signal = `SIG${rest[++i]!.replace(/^SIG/, '')}` as NodeJS.Signals;
    else if (a.startsWith('--signal=')) signal = `SIG${a.slice(9).replace(/^SIG/, '')}` as NodeJS.Signals;
    else if (a === '-a' || a === '--attach' || a === '-i') continue;
    else if (a.startsWith('-')) throw new DockerError(`unknown flag: ${a}\nSee 'docker ${cmd} --help'.`, 125);
    else refs.push(a);
  }
  if (!refs.length)
    throw new DockerError(`"docker ${cmd}" requires at least 1 argument.\nSee 'docker ${cmd} --help'.`, 1);
  let failed = false;
  for (const ref of refs) {
    const c = find(rt, instanceId, ref);
    if (!c) {
      err(o, `Error response from daemon: No such container: ${ref}\n`);
      failed = true;
      continue;
    }
    if (cmd === 'kill') {
      if (!c.running) {
        err(o, `Error response from daemon: cannot kill container: ${ref}: container ${c.id} is not running\n`);
        failed = true;
        continue;
      }
      await stopProc(c, 0, signal);
    } else if (cmd === 'stop') await stopProc(c, timeout);
    else if (cmd === 'restart') {
      await stopProc(c, timeout);
      if (containers(rt, instanceId).get(c.name) === c) manualStart(rt, instanceId, c);
    } else if (!c.running) manualStart(rt, instanceId, c);
    say(o, `${ref}\n`);
  }
  return failed ? 1 : 0;
}

async function cmdRm(rt: Runtime, instanceId: string, rest: string[], o: Out): Promise<number> {
  const force = rest.some((a) => a === '-f' || a === '--force' || a === '-fv' || a === '-vf');
  const bad = rest.find((a) => a.startsWith('-') && !['-f', '--force', '-v', '--volumes', '-fv', '-vf'].includes(a));
  if (bad) throw new DockerError(`unknown flag: ${bad}\nSee 'docker rm --help'.`, 125);
  const refs = rest.filter((a) => !a.startsWith('-'));
  if (!refs.length) throw new DockerError(`"docker rm" requires at least 1 argument.\nSee 'docker rm --help'.`, 1);
  let failed = false;
  for (const ref of refs) {
    const c = find(rt, instanceId, ref);
    if (!c) {
      err(o, `Error response from daemon: No such container: ${ref}\n`);
      failed = true;
      continue;
    }
    if ((c.running || c.restarting) && !force) {
      err(
        o,
        c.restarting
          ? `Error response from daemon: cannot remove container "/${c.name}": container is restarting: ${FORCE}`
          : `Error response from daemon: cannot remove container "/${c.name}": container is running: ${FORCE}`,
      );
      failed = true;
      continue;
    }
    containers(rt, instanceId).delete(c.name);
    await stopProc(c, 0, 'SIGKILL');
    say(o, `${ref}\n`);
  }
  return failed ? 1 : 0;
}

/** Run one `docker …` command line for an instance; callerEnv resolves `-e NAME` without a value. */
export async function docker(
  rt: Runtime,
  instanceId: string,
  argv: string[],
  callerEnv: Record<string, string> = {},
): Promise<DockerResult> {
  const o: Out = { chunks: [] };
  let exitCode: number;
  let [cmd, ...rest] = argv;
  let kind: 'object' | 'container' = 'object';
  if (cmd === 'container') {
    kind = 'container';
    const sub = rest.shift();
    cmd = sub === 'ls' || sub === 'list' ? 'ps' : sub;
  }
  try {
    switch (cmd) {
      case 'run':
        exitCode = await cmdRun(rt, instanceId, rest, callerEnv, o);
        break;
      case 'ps':
        exitCode = cmdPs(rt, instanceId, rest, o);
        break;
      case 'logs':
        exitCode = cmdLogs(rt, instanceId, rest, o);
        break;
      case 'inspect':
        exitCode = cmdInspect(rt, instanceId, rest, o, kind);
        break;
      case 'start':
      case 'stop':
      case 'restart':
      case 'kill':
        exitCode = await cmdLifecycle(rt, instanceId, cmd, rest, o);
        break;
      case 'rm':
        exitCode = await cmdRm(rt, instanceId, rest, o);
        break;
      case 'version':
      case '--version':
      case '-v':
        say(o, 'Docker version 25.0.8, build 0bab007\n');
        exitCode = 0;
        break;
      case undefined:
        err(o, '\nUsage:  docker [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n');
        exitCode = 0;
        break;
      default:
        err(o, `docker: unknown command: docker ${cmd}\n\nRun 'docker --help' for more information\n`);
        exitCode = 1;
    }
  } catch (e) {
    if (!(e instanceof DockerError)) throw e;
    err(o, `${e.message}\n`);
    exitCode = e.code;
  }
  return {
    exitCode,
    stdout: o.chunks
      .filter((c) => c.stream === 'stdout')
      .map((c) => c.text)
      .join(''),
    stderr: o.chunks
      .filter((c) => c.stream === 'stderr')
      .map((c) => c.text)
      .join(''),
    chunks: o.chunks,
  };
}
