/**
 * What the twin's docker prints, as the real CLI prints it: RFC3339Nano timestamps, `docker ps`
 * durations, `--since/--until` parsing, the Go text/template subset of `--format`, tabwriter
 * columns, image reference normalisation, and the CLI's error type (message + exit code).
 */

export const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const ZERO_TIME = '0001-01-01T00:00:00Z';
export const ADJECTIVES = ['brave', 'calm', 'eager', 'gifted', 'jolly', 'keen', 'lucid', 'nifty', 'quirky', 'vivid'];
export const NAMES = ['bohr', 'curie', 'euler', 'gauss', 'hopper', 'lovelace', 'noether', 'turing', 'wiles', 'yonath'];

/** Epoch ms with microsecond precision (Date.now() alone puts many log lines on the same ms). */
export const nowMs = () => performance.timeOrigin + performance.now();

/** RFC3339Nano as Docker prints it (`2024-01-02T03:04:05.123456789Z`). */
export function rfc3339Nano(ms: number): string {
  const whole = Math.floor(ms);
  const iso = new Date(whole).toISOString(); // …ss.mmmZ
  const micro = Math.floor((ms - whole) * 1000);
  return `${iso.slice(0, 23)}${String(micro).padStart(3, '0')}000Z`;
}

/** go-units HumanDuration, as used by `docker ps` (Up …, Exited (0) … ago). */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(seconds / 3600);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 14) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 60) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

const GO_DURATION = /^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Docker's `--since`/`--until`: Go duration relative to now (10m, 1h30m), unix seconds, or a timestamp. */
export function parseDockerTime(v: string, flag: string, now = Date.now()): number {
  if (GO_DURATION.test(v)) {
    let total = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
    return now - total;
  }
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v); // without a zone: local time, as Docker
  if (Number.isNaN(t))
    throw new DockerError(`invalid value for "${flag}": failed to parse value as time or duration: "${v}"`, 1);
  // Keep sub-millisecond digits of RFC3339Nano timestamps.
  const frac = /\.(\d{4,9})/.exec(v)?.[1];
  return frac ? Math.floor(t) + Number(`0.${frac.slice(3)}`) : t;
}

export class DockerError extends Error {
  code: number;
  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}

// ------------------------------------------------------------------------------------------------
// A small Go text/template subset: {{.A.B}}, {{.}}, {{json X}}, {{println X…}}, {{print X…}},
// {{index X "k"}}, {{len X}}, {{upper X}}/{{lower X}}, {{range X}}…{{end}}, {{if X}}…{{else}}…{{end}},
// string literals, trim markers {{- -}}.

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; expr: string; pos: number }
  | { kind: 'range'; expr: string; pos: number; body: Node[] }
  | { kind: 'if'; expr: string; pos: number; body: Node[]; orElse: Node[] };

function parseTemplate(src: string): Node[] {
  const tokens: ({ t: 'text'; v: string } | { t: 'act'; v: string; pos: number })[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      tokens.push({ t: 'text', v: src.slice(i) });
      break;
    }
    const close = src.indexOf('}}', open + 2);
    if (close < 0) throw new DockerError(`template parsing error: template: :1: unclosed action`, 1);
    let text = src.slice(i, open);
    let body = src.slice(open + 2, close);
    if (body.startsWith('-')) {
      text = text.replace(/\s+$/, '');
      body = body.slice(1);
    }
    let trimNext = false;
    if (body.endsWith('-')) {
      body = body.slice(0, -1);
      trimNext = true;
    }
    if (text) tokens.push({ t: 'text', v: text });
    tokens.push({ t: 'act', v: body.trim(), pos: open });
    i = close + 2;
    if (trimNext) while (i < src.length && /\s/.test(src[i]!)) i++;
  }
  let k = 0;
  const block = (stopAt: string[]): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = [];
    while (k < tokens.length) {
      const tok = tokens[k++]!;
      if (tok.t === 'text') {
        nodes.push({ kind: 'text', text: tok.v });
        continue;
      }
      const word = tok.v.split(/\s+/)[0]!;
      if (stopAt.includes(word)) return { nodes, stop: word };
      if (word === 'range') {
        const body = block(['end']);
        nodes.push({ kind: 'range', expr: tok.v.slice(5).trim(), pos: tok.pos, body: body.nodes });
      } else if (word === 'if') {
        const then = block(['else', 'end']);
        const els = then.stop === 'else' ? block(['end']).nodes : [];
        nodes.push({ kind: 'if', expr: tok.v.slice(2).trim(), pos: tok.pos, body: then.nodes, orElse: els });
      } else if (word === 'end' || word === 'else') {
        throw new DockerError(`template parsing error: template: :1: unexpected {{${word}}}`, 1);
      } else nodes.push({ kind: 'action', expr: tok.v, pos: tok.pos });
    }
    if (stopAt.length) throw new DockerError('template parsing error: template: :1: unexpected EOF', 1);
    return { nodes, stop: '' };
  };
  return block([]).nodes;
}

/** Go's default formatting of a value (fmt %v). */
function goString(v: unknown): string {
  if (v === undefined || v === null) return '<no value>';
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (typeof v === 'object') {
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${goString((v as Record<string, unknown>)[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

const truthy = (v: unknown) =>
  !(v === undefined || v === null || v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0));

function evalTemplate(nodes: Node[], data: unknown): string {
  const field = (dot: unknown, path: string, pos: number): unknown => {
    if (path === '.') return dot;
    let cur = dot;
    for (const key of path.slice(1).split('.')) {
      if (cur && typeof cur === 'object' && !Array.isArray(cur) && key in (cur as object))
        cur = (cur as Record<string, unknown>)[key];
      else if (cur && typeof cur === 'object' && (cur as { __map?: boolean }).__map) cur = undefined;
      else throw new DockerError(`template: :1:${pos + 2}: executing "" at <${path}>: can't evaluate field ${key}`, 1);
    }
    return cur;
  };
  const args = (expr: string): string[] => expr.match(/"(?:[^"\\]|\\.)*"|`[^`]*`|\S+/g) ?? [];
  const value = (tok: string, dot: unknown, pos: number): unknown => {
    if (tok.startsWith('"')) return JSON.parse(tok) as string;
    if (tok.startsWith('`')) return tok.slice(1, -1);
    if (/^-?\d+$/.test(tok)) return Number(tok);
    if (tok === 'true' || tok === 'false') return tok === 'true';
    if (tok.startsWith('.')) return field(dot, tok, pos);
    throw new DockerError(`template parsing error: template: :1: function "${tok}" not defined`, 1);
  };
  const evalExpr = (expr: string, dot: unknown, pos: number): unknown => {
    const [fn, ...rest] = args(expr);
    if (fn === undefined) throw new DockerError('template parsing error: template: :1: missing value for command', 1);
    const vals = () => rest.map((a) => value(a, dot, pos));
    switch (fn) {
      case 'json':
        return JSON.stringify(vals()[0] ?? null);
      case 'println':
        return `${vals().map(goString).join(' ')}\n`;
      case 'print':
        return vals().map(goString).join('');
      case 'printf': {
        const [f, ...xs] = vals();
        let n = 0;
        return String(f).replace(/%[svdq]/g, (m) =>
          m === '%q' ? JSON.stringify(goString(xs[n++])) : goString(xs[n++]),
        );
      }
      case 'index': {
        const [o, ...ks] = vals();
        return ks.reduce<unknown>(
          (c, k) => (c && typeof c === 'object' ? (c as Record<string, unknown>)[String(k)] : undefined),
          o,
        );
      }
      case 'len': {
        const v = vals()[0];
        return Array.isArray(v) || typeof v === 'string'
          ? v.length
          : v && typeof v === 'object'
            ? Object.keys(v).length
            : 0;
      }
      case 'upper':
        return String(vals()[0]).toUpperCase();
      case 'lower':
        return String(vals()[0]).toLowerCase();
      case 'eq': {
        const [a, ...bs] = vals();
        return bs.some((b) => b === a);
      }
      case 'ne': {
        const [a, b] = vals();
        return a !== b;
      }
      case 'not':
        return !truthy(vals()[0]);
      case 'and':
        return vals().every(truthy);
      case 'or':
        return vals().some(truthy);
      default:
        if (rest.length) throw new DockerError(`template parsing error: template: :1: function "${fn}" not defined`, 1);
        return value(fn, dot, pos);
    }
  };
  const run = (ns: Node[], dot: unknown): string =>
    ns
      .map((n) => {
        if (n.kind === 'text') return n.text;
        if (n.kind === 'action') {
          const v = evalExpr(n.expr, dot, n.pos);
          return typeof v === 'string' ? v : goString(v);
        }
        if (n.kind === 'if') return truthy(evalExpr(n.expr, dot, n.pos)) ? run(n.body, dot) : run(n.orElse, dot);
        const over = evalExpr(n.expr, dot, n.pos);
        const items = Array.isArray(over) ? over : over && typeof over === 'object' ? Object.values(over) : [];
        return items.map((it) => run(n.body, it)).join('');
      })
      .join('');
  return run(nodes, data);
}

/** Docker CLI formatting: `\t`/`\n` escapes are honoured. */
export function renderTemplate(template: string, data: unknown): string {
  return evalTemplate(parseTemplate(template.replace(/\\t/g, '\t').replace(/\\n/g, '\n')), data);
}

/** Go tabwriter as the docker CLI configures it (minwidth 10, padding 3). */
export function tabulate(lines: string[]): string {
  const rows = lines.map((l) => l.split('\t'));
  const widths: number[] = [];
  for (const r of rows)
    r.slice(0, -1).forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i < r.length - 1 ? cell.padEnd(Math.max(10, (widths[i] ?? 0) + 3)) : cell))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

export const PS_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Names: 'NAMES',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
};

/** Docker's reference normalisation for lookups in the image table (docker.io/ prefix, :latest default). */
export function normaliseImage(ref: string): string {
  let r = ref.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '').replace(/^library\//, '');
  if (!/:[^/]+$/.test(r) && !r.includes('@')) r += ':latest';
  return r;
}
