/**
 * `curl` on a twin instance: asks the fleet (POST /network/reach on the docker socket) whether the
 * security groups let this instance open a TCP connection to the address each URL names. Allowed:
 * runs the system curl (TWIN_SYSTEM_CURL) with the same arguments, bound to the instance's address
 * when it dials another instance. Forbidden: the SYN is dropped, so curl waits out its connect
 * timeout and fails as the real one does — exit 28, `Connection timed out after N milliseconds`,
 * --write-out rendered with what curl knows at that point (http_code 000, time_connect 0.000000),
 * --retry honoured. Refusals (a closed port) come from the system curl itself (exit 7).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeAll } from './write-all.ts';

const argv = process.argv.slice(2);
const systemCurl = process.env.TWIN_SYSTEM_CURL ?? '/usr/bin/curl';
const networkUrl = process.env.TWIN_DOCKERD_URL ? `${process.env.TWIN_DOCKERD_URL}/network/reach` : undefined;
const instanceId = process.env.TWIN_INSTANCE_ID;

/** Short options (curl 7.88) that take an argument; the rest are flags. */
const SHORT_WITH_ARG = new Set('AbcCdDeEFHKmoPQrtTuUwxXyYz'.split(''));
/** Long options that take an argument (the ones scripts use; unknown long options are taken as flags). */
const LONG_WITH_ARG = new Set(
  (
    'output write-out header request data data-raw data-binary data-urlencode data-ascii json user user-agent ' +
    'referer max-time connect-timeout retry retry-delay retry-max-time upload-file form form-string interface ' +
    'resolve connect-to proxy cookie cookie-jar config cacert capath cert key range speed-limit speed-time ' +
    'limit-rate max-filesize noproxy url output-dir proxy-user dns-servers local-port max-redirs expect100-timeout ' +
    'unix-socket abstract-unix-socket happy-eyeballs-timeout-ms keepalive-time dump-header continue-at ftp-port ' +
    'quote time-cond telnet-option parallel-max'
  ).split(' '),
);
const SHORT_ALIAS: Record<string, string> = {
  o: 'output',
  w: 'write-out',
  m: 'max-time',
  s: 'silent',
  S: 'show-error',
  v: 'verbose',
};

interface Parsed {
  urls: string[];
  opts: Map<string, string[]>;
  flags: Set<string>;
  /** Where each URL and each -o/--output stands in argv (their argument indexes), in order; null: inside a cluster. */
  urlArgs: number[][];
  outputArgs: (number[] | null)[];
}

function parse(args: string[]): Parsed {
  const out: Parsed = { urls: [], opts: new Map(), flags: new Set(), urlArgs: [], outputArgs: [] };
  const put = (k: string, v: string) => out.opts.set(k, [...(out.opts.get(k) ?? []), v]);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const at = i;
    if (a === '--') {
      for (let k = i + 1; k < args.length; k++) out.urlArgs.push([k]);
      out.urls.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
      if (LONG_WITH_ARG.has(name)) put(name, inline ?? args[++i] ?? '');
      else out.flags.add(name);
      const span = inline === undefined && LONG_WITH_ARG.has(name) ? [at, at + 1] : [at];
      if (name === 'url') {
        out.urls.push(out.opts.get('url')!.at(-1)!);
        out.urlArgs.push(span);
      }
      if (name === 'output') out.outputArgs.push(span);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const long = SHORT_ALIAS[c] ?? c;
        if (SHORT_WITH_ARG.has(c)) {
          const inline = j + 1 < a.length;
          put(long, inline ? a.slice(j + 1) : (args[++i] ?? ''));
          if (c === 'o') out.outputArgs.push(j > 1 ? null : inline ? [at] : [at, at + 1]);
          break;
        }
        out.flags.add(long);
      }
      continue;
    }
    out.urls.push(a);
    out.urlArgs.push([at]);
  }
  return out;
}

function target(url: string): { host: string; port: number } | undefined {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`;
  try {
    const u = new URL(withScheme);
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port };
  } catch {
    return undefined;
  }
}

async function allowed(targets: { host: string; port: number }[]): Promise<boolean[]> {
  if (!networkUrl || !instanceId || targets.length === 0) return targets.map(() => true);
  try {
    const res = await fetch(networkUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instanceId, targets }),
    });
    return ((await res.json()) as { allowed: boolean[] }).allowed;
  } catch {
    return targets.map(() => true); // no fleet to ask: an unfiltered network
  }
}

/** The system curl with the same arguments (bound to the instance's address when it dials an instance). */
function runSystemCurl(bindTo: string | undefined): void {
  const child = spawn(systemCurl, bound(argv, bindTo), { stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
  child.on('error', (e) => {
    writeAll(2, `curl: ${e.message}\n`);
    process.exit(2);
  });
}

const bound = (args: string[], bindTo: string | undefined) => (bindTo ? ['--interface', bindTo, ...args] : args);

/**
 * The system curl for the transfers the rules allow, beside the dropped ones this stand-in times out:
 * its stdout passes on whole lines only, so a dropped transfer's --write-out never lands inside one.
 */
function systemCurlBeside(args: string[], bindTo: string | undefined): Promise<number> {
  const child = spawn(systemCurl, bound(args, bindTo), { stdio: ['inherit', 'pipe', 'inherit'] });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  let pending = Buffer.alloc(0);
  child.stdout.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    const end = pending.lastIndexOf(10) + 1;
    if (end > 0) writeAll(1, pending.subarray(0, end));
    pending = pending.subarray(end);
  });
  return new Promise((done) => {
    child.on('close', (code) => {
      if (pending.length) writeAll(1, pending);
      done(code ?? 1);
    });
    child.on('error', (e) => {
      writeAll(2, `curl: ${e.message}\n`);
      done(2);
    });
  });
}

/** --write-out as curl renders it for a transfer that never connected. */
function writeOut(
  format: string,
  v: { url: string; elapsedS: number; errormsg: string; exitcode: number; filename?: string; urlnum?: number },
): void {
  let fmt = format;
  if (fmt.startsWith('@')) fmt = readFileSync(fmt.slice(1) === '-' ? 0 : fmt.slice(1), 'utf8');
  const zero = '0.000000';
  const values: Record<string, string> = {
    http_code: '000',
    response_code: '000',
    http_connect: '000',
    time_connect: zero,
    time_appconnect: zero,
    time_pretransfer: zero,
    time_starttransfer: zero,
    time_redirect: zero,
    time_namelookup: '0.000012',
    time_total: v.elapsedS.toFixed(6),
    exitcode: String(v.exitcode),
    errormsg: v.errormsg,
    url: v.url,
    url_effective: v.url,
    urlnum: String(v.urlnum ?? 0),
    filename_effective: v.filename ?? '',
    remote_ip: '',
    remote_port: '0',
    local_ip: '',
    local_port: '0',
    num_connects: '0',
    num_redirects: '0',
    size_download: '0',
    size_upload: '0',
    size_header: '0',
    size_request: '0',
    speed_download: '0',
    speed_upload: '0',
    content_type: '',
    scheme: (/^([a-z]+):\/\//i.exec(v.url)?.[1] ?? 'http').toUpperCase(),
  };
  let fd = 1;
  let text = '';
  const flush = () => {
    if (text) writeAll(fd, text);
    text = '';
  };
  const re = /%\{([a-z_]+)\}|%%|\\([nrt\\])|%/g;
  let last = 0;
  for (let m = re.exec(fmt); m; m = re.exec(fmt)) {
    text += fmt.slice(last, m.index);
    last = re.lastIndex;
    if (m[0] === '%%') text += '%';
    else if (m[2]) text += { n: '\n', r: '\r', t: '\t', '\\': '\\' }[m[2]]!;
    else if (m[1] === 'stderr' || m[1] === 'stdout') {
      flush();
      fd = m[1] === 'stderr' ? 2 : 1;
    } else if (m[1] !== undefined) {
      if (m[1] in values) text += values[m[1]];
      else writeAll(2, `curl: unknown --write-out variable: '${m[1]}'\n`);
    } else text += '%';
  }
  text += fmt.slice(last);
  flush();
}

const seconds = (p: Parsed, name: string) => {
  const v = p.opts.get(name)?.at(-1);
  return v !== undefined && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : undefined;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The dropped SYN: wait out the connect timeout (with --retry), then fail as curl does (28). */
async function timeOut(
  p: Parsed,
  url: string,
  t: { host: string; port: number },
  transfer: { urlnum: number; filename?: string } = { urlnum: 0 },
): Promise<number> {
  const silent = p.flags.has('silent') && !p.flags.has('show-error');
  const verbose = p.flags.has('verbose');
  const limits = [seconds(p, 'connect-timeout'), seconds(p, 'max-time')].filter((x): x is number => x !== undefined);
  // Without a timeout the kernel gives up after its SYN retries (tcp_syn_retries 6: ~127 s).
  const waitMs = limits.length ? Math.min(...limits) * 1000 : 127_000 + 2_000;
  const retries = Math.max(0, Math.floor(seconds(p, 'retry') ?? 0));
  const retryDelay = seconds(p, 'retry-delay');
  const retryMaxMs = (seconds(p, 'retry-max-time') ?? 0) * 1000;
  const started = Date.now();
  let message = '';
  for (let attempt = 0; ; attempt++) {
    if (verbose) writeAll(2, `*   Trying ${t.host}:${t.port}...\n`);
    const t0 = Date.now();
    await sleep(waitMs);
    const took = Date.now() - t0 + 1;
    message = limits.length
      ? `Connection timed out after ${took} milliseconds`
      : `Failed to connect to ${t.host} port ${t.port} after ${took} ms: Couldn't connect to server`;
    if (verbose) writeAll(2, `* ${message}\n* Closing connection 0\n`);
    const left = retries - attempt;
    const delayS = retryDelay ?? Math.min(600, 2 ** attempt);
    if (left <= 0 || (retryMaxMs > 0 && Date.now() - started + delayS * 1000 > retryMaxMs)) break;
    if (!p.flags.has('silent'))
      writeAll(2, `Warning: Problem : timeout. Will retry in ${delayS} seconds. ${left} retries left.\n`);
    await sleep(delayS * 1000);
  }
  if (!silent) writeAll(2, `curl: (28) ${message}\n`);
  const format = p.opts.get('write-out')?.at(-1);
  if (format !== undefined)
    writeOut(format, { url, elapsedS: (Date.now() - started) / 1000, errormsg: message, exitcode: 28, ...transfer });
  return 28;
}

/**
 * `--parallel` with some URLs dropped: each dropped transfer times out on its own, the others run in
 * the system curl (without the dropped URLs and their -o). curl ends with a failed transfer's code.
 * The allowed transfers' %{urlnum} counts only them.
 */
async function parallelWithDrops(p: Parsed, dropped: number[], bindTo: string | undefined): Promise<number> {
  const drop = new Set(dropped);
  const removed = new Set(dropped.flatMap((k) => [...p.urlArgs[k]!, ...(p.outputArgs[k] ?? [])]));
  const rest = argv.filter((_, i) => !removed.has(i));
  const outputs = p.opts.get('output') ?? [];
  const codes = await Promise.all([
    drop.size < p.urls.length ? systemCurlBeside(rest, bindTo) : Promise.resolve(0),
    ...dropped.map((k) =>
      timeOut(p, p.urls[k]!, targets[k]!, { urlnum: k, ...(outputs[k] ? { filename: outputs[k] } : {}) }),
    ),
  ]);
  return codes.find((c) => c !== 0) ?? 0;
}

const parsed = parse(argv);
const targets = parsed.urls.map(target);
const verdicts = await allowed(targets.filter((t) => t !== undefined));
const dropped: number[] = [];
for (let k = 0, v = 0; k < targets.length; k++) if (targets[k] && !verdicts[v++]) dropped.push(k);
const hostIp = process.env.TWIN_INSTANCE_IP;
const dialsInstance = hostIp && targets.some((t) => t && /^127\./.test(t.host) && t.host !== '127.0.0.1');
const bindTo = dialsInstance && !parsed.opts.has('interface') ? hostIp : undefined;
const parallel = parsed.flags.has('parallel') || parsed.flags.has('Z');
if (dropped.length === 0) runSystemCurl(bindTo);
else if (parallel && parsed.urls.length > 1 && !parsed.outputArgs.includes(null))
  process.exit(await parallelWithDrops(parsed, dropped, bindTo));
else process.exit(await timeOut(parsed, parsed.urls[dropped[0]!]!, targets[dropped[0]!]!));
