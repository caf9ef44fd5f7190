/**
 * Which manifest holds the on-chain keys. mpc-node-keys.json is regenerated with every redeploy, so
 * the revision whose keys are on chain is not always the one checked out. MPC_KEYS_FILE may name
 * several candidates, comma-separated: files, or `git:<rev>:<path>` revisions of a file in a git
 * work tree. Per node, the candidate whose account key is an access key of that account (and whose
 * p2p key is the participant's sign_pk) is used; none, or two on-chain candidates that disagree,
 * is a refusal with the reason. One candidate behaves as a single MPC_KEYS_FILE always did.
 *
 * Loading is I/O (files, `git show`); choosing is pure. Nothing here prints or returns a secret:
 * the table shows public keys only.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { shortKey } from './keys.ts';
import {
  type AnyManifest,
  type LoadedManifest,
  ManifestError,
  type ManifestExpectation,
  type ManifestNode,
  type PublicManifestNode,
  parseManifest,
  readManifest,
  requireSecrets,
  withPublicJson,
} from './manifest.ts';

export type CandidateSpec = { label: string } & (
  | { kind: 'file'; path: string }
  | { kind: 'git'; rev: string; path: string }
);

export interface Candidate {
  label: string;
  manifest: LoadedManifest;
}

/** A candidate that cannot be read (git missing, revision or path missing): names the candidate. */
export class CandidateError extends Error {}

/** MPC_KEYS_FILE (or command-line arguments) → candidate specs: comma-separated, blanks dropped. */
export function parseCandidateList(value: string | string[]): CandidateSpec[] {
  const items = (Array.isArray(value) ? value : [value])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  return items.map((label) => {
    if (!label.startsWith('git:')) return { label, kind: 'file', path: label };
    const rest = label.slice(4);
    const colon = rest.indexOf(':');
    if (colon <= 0 || colon === rest.length - 1)
      throw new CandidateError(
        `${label}: a git candidate is git:<revision>:<path>, e.g. git:HEAD~1:mpc-node-keys.json`,
      );
    return { label, kind: 'git', rev: rest.slice(0, colon), path: rest.slice(colon + 1) };
  });
}

/** Every candidate, loaded and validated (a ManifestError or CandidateError names the candidate). */
export function loadCandidates(
  value: string | string[],
  expect: ManifestExpectation,
  o: { cwd?: string } = {},
): Candidate[] {
  const cwd = o.cwd ?? process.cwd();
  const specs = parseCandidateList(value);
  if (!specs.length) throw new CandidateError('no keys manifest candidate given (MPC_KEYS_FILE is empty)');
  const twice = specs.find((s, i) => specs.findIndex((x) => x.label === s.label) !== i);
  if (twice) throw new CandidateError(`keys manifest candidate ${twice.label}: named twice`);
  return specs.map((spec) => {
    const manifest =
      spec.kind === 'file'
        ? readManifest(resolve(cwd, spec.path), expect)
        : parseManifest(gitShow(spec, cwd), spec.label, expect);
    if (spec.kind === 'file') manifest.path = spec.label;
    return { label: spec.label, manifest };
  });
}

/**
 * `git show <rev>:<path>`, run in the directory the path is in when that directory exists here
 * (the path is then relative to the current directory), else in the current directory's repository
 * (the path is then relative to its top level).
 */
export function gitShow(spec: { label: string; rev: string; path: string }, cwd: string): string {
  const fail = (why: string): never => {
    throw new CandidateError(`keys manifest candidate ${spec.label}: ${why}`);
  };
  if (spec.rev.startsWith('-')) fail('a revision cannot start with "-"');
  const abs = resolve(cwd, spec.path);
  const local = existsSync(dirname(abs)) && statSync(dirname(abs)).isDirectory();
  const runIn = local ? dirname(abs) : cwd;
  const object = local ? `${spec.rev}:./${basename(abs)}` : `${spec.rev}:${spec.path}`;
  const git = (args: string[]) =>
    spawnSync('git', args, { cwd: runIn, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, env: gitEnv() });
  const top = git(['rev-parse', '--show-toplevel']);
  if (top.error) fail(`git cannot be run (${(top.error as NodeJS.ErrnoException).code ?? top.error.message})`);
  if (top.status !== 0) fail(`${runIn} is not inside a git work tree`);
  const repo = top.stdout.trim();
  if (git(['rev-parse', '--verify', '--quiet', `${spec.rev}^{commit}`]).status !== 0)
    fail(`revision ${spec.rev} does not exist in the repository at ${repo}`);
  const show = git(['show', object]);
  if (show.status !== 0) fail(`${spec.path} does not exist at revision ${spec.rev} (repository ${repo})`);
  return show.stdout;
}

/** git without the user's pager or prompts. */
function gitEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GIT_PAGER: 'cat', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
}

// --- choosing ------------------------------------------------------------------------------------

/** What the chain says about one node: its account's access keys and its participant sign_pk. */
export interface ChainNodeKeys {
  index: number;
  accountId: string;
  accessKeys: string[];
  /** The contract's participant sign_pk for this account (undefined: not a participant / unknown). */
  signPk?: string;
}

export interface CandidateRow {
  index: number;
  accountId: string;
  candidate: string;
  accountPublicKey: string;
  accountOnChain: boolean;
  p2pPublicKey: string;
  /** 'unknown' when the chain names no sign_pk for this account. */
  p2pIsSignPk: boolean | 'unknown';
  used: boolean;
}

export interface NodeChoice {
  index: number;
  accountId: string;
  /** The candidate whose entry the runbook uses for this node. */
  chosen?: string;
  /** Why no candidate is used (only with several candidates). */
  refusal?: string;
}

export interface KeysChoice {
  nodes: NodeChoice[];
  rows: CandidateRow[];
  /** The manifest the runbook uses: per node the chosen candidate's entry; refused nodes are absent. */
  manifest: AnyManifest;
  /** One line per refused node. */
  refusals: string[];
  /** The whole picture as text (public keys only). */
  table: string;
}

/** Per node, the candidate that holds the keys on chain; the table that shows why. Pure. */
export function chooseManifestKeys(candidates: Candidate[], chain: ChainNodeKeys[]): KeysChoice {
  const rows: CandidateRow[] = [];
  const nodes: NodeChoice[] = [];
  const picked: PublicManifestNode[] = [];
  for (const c of chain) {
    const mine = candidates.map((cand) => rowFor(cand, c));
    const choice = decide(candidates, mine, c);
    nodes.push(choice);
    for (const r of mine) if (r) rows.push({ ...r, used: r.candidate === choice.chosen });
    const entry = candidates.find((x) => x.label === choice.chosen)?.manifest.nodes.find((n) => n.index === c.index);
    if (entry) picked.push(candidates.length > 1 ? { ...entry, source: choice.chosen! } : entry);
  }
  const refusals = nodes.filter((n) => n.refusal).map((n) => `${n.accountId}: ${n.refusal}`);
  return { nodes, rows, manifest: combine(candidates, picked), refusals, table: renderTable(nodes, rows, chain) };
}

function rowFor(cand: Candidate, c: ChainNodeKeys): Omit<CandidateRow, 'used'> | undefined {
  const n = cand.manifest.nodes.find((x) => x.index === c.index);
  if (!n) return undefined;
  return {
    index: c.index,
    accountId: c.accountId,
    candidate: cand.label,
    accountPublicKey: n.accountPublicKey,
    accountOnChain: c.accessKeys.includes(n.accountPublicKey),
    p2pPublicKey: n.p2pPublicKey,
    p2pIsSignPk: c.signPk === undefined ? 'unknown' : n.p2pPublicKey === c.signPk,
  };
}

function decide(
  candidates: Candidate[],
  rows: (Omit<CandidateRow, 'used'> | undefined)[],
  c: ChainNodeKeys,
): NodeChoice {
  const base = { index: c.index, accountId: c.accountId };
  // One candidate: exactly as a single MPC_KEYS_FILE always behaved (diagnosis refuses what is not on chain).
  if (candidates.length === 1) return rows[0] ? { ...base, chosen: rows[0].candidate } : base;
  const present = rows.filter((r): r is Omit<CandidateRow, 'used'> => r !== undefined);
  const onChain = present.filter((r) => r.accountOnChain && r.p2pIsSignPk !== false);
  const distinct = new Map(onChain.map((r) => [`${r.accountPublicKey}|${r.p2pPublicKey}`, r]));
  if (distinct.size > 1) {
    const [a, b] = [...distinct.values()];
    return {
      ...base,
      refusal:
        `candidates ${a!.candidate} and ${b!.candidate} are both on chain for ${c.accountId} but disagree ` +
        `(account ${shortKey(a!.accountPublicKey)} vs ${shortKey(b!.accountPublicKey)}, ` +
        `p2p ${shortKey(a!.p2pPublicKey)} vs ${shortKey(b!.p2pPublicKey)}): decide by hand which one the node uses`,
    };
  }
  if (onChain.length) return { ...base, chosen: onChain[0]!.candidate };
  const partial = present.find((r) => r.accountOnChain);
  const chainSays =
    `on chain: ${c.accessKeys.map(shortKey).join(', ') || 'no access keys'}` +
    `${c.signPk ? `; participant sign_pk ${shortKey(c.signPk)}` : ''}`;
  return {
    ...base,
    refusal: partial
      ? `${partial.candidate} holds the account key that is on chain, ` +
        `but its p2p key ${shortKey(partial.p2pPublicKey)} ` +
        `is not the participant sign_pk, and no other candidate holds both (${chainSays})`
      : `none of the ${candidates.length} candidates (${candidates.map((x) => x.label).join(', ')}) holds a key ` +
        `that is on chain for ${c.accountId} (${chainSays})`,
  };
}

/** The manifest the runbook uses. One candidate: that manifest itself. */
function combine(candidates: Candidate[], picked: PublicManifestNode[]): AnyManifest {
  if (candidates.length === 1) return candidates[0]!.manifest;
  const sources = [...new Set(picked.map((n) => n.source!))];
  const bySource = new Map(candidates.map((c) => [c.label, c.manifest]));
  const warnings = picked.flatMap((n) =>
    (bySource.get(n.source!)?.warnings ?? [])
      .filter((w) => w.startsWith(`${n.nodeKey}.`))
      .map((w) => `[${n.source}] ${w}`),
  );
  const publicOnly = sources.some((s) => bySource.get(s)!.publicOnly);
  const path = sources.join(', ') || candidates.map((c) => c.label).join(', ');
  return withPublicJson(
    publicOnly
      ? { given: true, path, publicOnly: true, nodes: picked, warnings }
      : { given: true, path, publicOnly: false, nodes: picked as ManifestNode[], warnings },
  );
}

/** Text table: per node and candidate, the keys and whether the chain has them; then the verdict per node. */
function renderTable(nodes: NodeChoice[], rows: CandidateRow[], chain: ChainNodeKeys[]): string {
  const yn = (v: boolean | 'unknown') => (v === 'unknown' ? '?' : v ? 'yes' : 'no');
  const header = ['node', 'account', 'candidate', 'account key', 'on chain', 'p2p key', '= sign_pk', 'used'];
  const body = rows.map((r) => [
    String(r.index),
    r.accountId,
    r.candidate,
    shortKey(r.accountPublicKey),
    yn(r.accountOnChain),
    shortKey(r.p2pPublicKey),
    yn(r.p2pIsSignPk),
    r.used ? '←' : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const verdicts = nodes.map((n) => {
    const c = chain.find((x) => x.index === n.index)!;
    const usedRow = rows.find((r) => r.index === n.index && r.used);
    const onChain = usedRow?.accountOnChain && usedRow.p2pIsSignPk !== false;
    if (n.refusal) return `${n.accountId}: refused — ${n.refusal}`;
    if (!n.chosen) return `${n.accountId}: no candidate has an entry`;
    return `${n.accountId}: uses ${n.chosen}${onChain ? '' : ` (its keys are NOT all on chain: ${keysOf(c)})`}`;
  });
  return [line(header), ...body.map(line), '', ...verdicts].join('\n');
}

const keysOf = (c: ChainNodeKeys) =>
  `access keys ${c.accessKeys.map(shortKey).join(', ') || 'none'}${c.signPk ? `, sign_pk ${shortKey(c.signPk)}` : ''}`;

/** Rethrow load errors as one operator sentence (ManifestError and CandidateError already name the candidate). */
export function isCandidateLoadError(e: unknown): e is ManifestError | CandidateError {
  return e instanceof ManifestError || e instanceof CandidateError;
}

/** The chosen candidate's entry for one node, with its secret keys (only fix needs them). */
export function secretEntry(candidates: Candidate[], source: string | undefined, index: number): ManifestNode {
  const candidate = candidates.find((c) => c.label === source);
  if (!candidate) throw new Error(`node-${index}: no keys manifest candidate holds this node's keys on chain`);
  const entry = requireSecrets(candidate.manifest).nodes.find((n) => n.index === index);
  if (!entry) throw new Error(`node-${index}: ${candidate.label} has no entry for this node`);
  return entry;
}
