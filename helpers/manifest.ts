/**
 * The keys manifest (mpc-node-keys.json): one entry per node with the account key, the p2p key and
 * the secret store key. Every problem is collected and reported as `node-1.MPC_ACCOUNT_SK: …`;
 * values are registered with the redactor and never appear in errors.
 *
 * Gate and plan only compare public keys, so a manifest that holds only the public keys
 * (MPC_ACCOUNT_ID, MPC_ACCOUNT_PK, MPC_P2P_PUBLIC_KEY) is accepted and flagged `publicOnly`; fix
 * needs the secret keys (`requireSecrets`). No manifest at all is `NO_MANIFEST`.
 */
import { readFileSync } from 'node:fs';
import { isPublicKey, isSecretStoreKey, readNodeKey } from './keys.ts';
import { redactor } from './redact.ts';

/** What a node's entry says publicly (all a gate or plan needs). */
export interface PublicManifestNode {
  nodeKey: string;
  index: number;
  accountId: string;
  /** MPC_ACCOUNT_ID as the manifest writes it (may be a stale suffix such as .node0). */
  declaredAccountId: string;
  accountPublicKey: string;
  p2pPublicKey: string;
  /** The candidate manifest this entry was taken from, when MPC_KEYS_FILE names several. */
  source?: string;
}

export interface ManifestNode extends PublicManifestNode {
  accountSecretKey: string;
  p2pSecretKey: string;
  secretStoreKey: string;
}

export class ManifestError extends Error {
  readonly problems: string[];
  constructor(path: string, problems: string[], o: { sentence?: string } = {}) {
    super(
      o.sentence ??
        `keys manifest ${path} is not usable:\n  - ${problems.join('\n  - ')}\n` +
          'Nothing was written. Fix the manifest (or MPC_KEYS_FILE) and run again.',
    );
    this.problems = problems;
  }
}

interface ManifestBase {
  given: true;
  path: string;
  /** Findings that do not make the manifest unusable (e.g. a stale .node0 account id). */
  warnings: string[];
}
/** A manifest with the secret keys: everything fix needs. */
export interface Manifest extends ManifestBase {
  publicOnly: false;
  nodes: ManifestNode[];
}
/** A manifest with only public keys: enough for gate and plan, not for fix. */
export interface PublicManifest extends ManifestBase {
  publicOnly: true;
  nodes: PublicManifestNode[];
}
export type LoadedManifest = Manifest | PublicManifest;
/** No manifest was given: the manifest column shows "not given", fix cannot restore anything. */
export interface NoManifest {
  given: false;
  publicOnly: true;
  path: undefined;
  nodes: PublicManifestNode[];
  warnings: string[];
}
export const NO_MANIFEST: NoManifest = Object.freeze({
  given: false,
  publicOnly: true,
  path: undefined,
  nodes: [],
  warnings: [],
}) as NoManifest;
export type AnyManifest = LoadedManifest | NoManifest;

export interface ManifestExpectation {
  nodeCount: number;
  accountIdFor: (i: number) => string;
}

const FIELDS = [
  'MPC_ACCOUNT_ID',
  'MPC_ACCOUNT_SK',
  'MPC_ACCOUNT_PK',
  'MPC_P2P_PRIVATE_KEY',
  'MPC_P2P_PUBLIC_KEY',
  'MPC_SECRET_STORE_KEY',
] as const;
type Field = (typeof FIELDS)[number];
const SECRET_FIELDS: readonly Field[] = ['MPC_ACCOUNT_SK', 'MPC_P2P_PRIVATE_KEY', 'MPC_SECRET_STORE_KEY'];
const PUBLIC_FIELDS: readonly Field[] = ['MPC_ACCOUNT_ID', 'MPC_ACCOUNT_PK', 'MPC_P2P_PUBLIC_KEY'];
type Entry = Record<string, unknown>;

/** The manifest with its secret keys, as fix needs it (a public-only manifest is refused with the reason). */
export function loadManifest(path: string, expect: ManifestExpectation): Manifest {
  return requireSecrets(readManifest(path, expect));
}

/** A manifest file, with or without its secret keys (see `publicOnly`). */
export function readManifest(path: string, expect: ManifestExpectation): LoadedManifest {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ManifestError(path, [
      code === 'ENOENT'
        ? 'file not found (set MPC_KEYS_FILE to the mpc-node-keys.json manifest)'
        : `file cannot be read (${code ?? 'error'})`,
    ]);
  }
  return parseManifest(text, path, expect);
}

/** A manifest from its text; `path` names it in errors (a file, or a git revision of one). */
export function parseManifest(text: string, path: string, expect: ManifestExpectation): LoadedManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ManifestError(path, ['file is not valid JSON']);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new ManifestError(path, ['the top level must be an object {"node-0": {…}, …}']);
  const entries = raw as Record<string, Entry>;
  for (const v of Object.values(entries)) {
    if (v && typeof v === 'object')
      for (const f of SECRET_FIELDS) if (typeof v[f] === 'string') redactor.add(v[f] as string);
  }
  const publicOnly = Object.values(entries).every(
    (v) => !v || typeof v !== 'object' || SECRET_FIELDS.every((f) => v[f] === undefined),
  );
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const key of Object.keys(entries)) {
    const m = /^node-(\d+)$/.exec(key);
    if (!m || Number(m[1]) >= expect.nodeCount)
      problems.push(`${key}: not a node of this deployment (expected node-0 … node-${expect.nodeCount - 1})`);
  }
  const nodes: PublicManifestNode[] = [];
  const keysRead: KeysRead[] = [];
  for (let i = 0; i < expect.nodeCount; i++) {
    const nodeKey = `node-${i}`;
    const e = entries[nodeKey];
    if (!e || typeof e !== 'object') {
      problems.push(`${nodeKey}: missing from the manifest`);
      continue;
    }
    const { entry: node, keys } = publicOnly ? publicEntry(nodeKey, e, problems) : fullEntry(nodeKey, e, problems);
    keysRead.push({ nodeKey, ...keys });
    const declared = typeof e.MPC_ACCOUNT_ID === 'string' ? e.MPC_ACCOUNT_ID : undefined;
    const expected = expect.accountIdFor(i);
    if (declared && declared !== expected) {
      warnings.push(
        `${nodeKey}.MPC_ACCOUNT_ID: says ${declared}, the deployment's account is ${expected}; ` +
          `the runbook uses ${expected}`,
      );
    }
    if (node) nodes.push({ ...node, nodeKey, index: i, accountId: expected, declaredAccountId: declared ?? expected });
  }
  problems.push(...duplicateKeys(keysRead, publicOnly));
  if (problems.length) throw new ManifestError(path, problems);
  return withPublicJson(
    publicOnly
      ? { given: true, path, publicOnly: true, nodes, warnings }
      : { given: true, path, publicOnly: false, nodes: nodes as ManifestNode[], warnings },
  );
}

type EntryKeys = Omit<ManifestNode, 'nodeKey' | 'index' | 'accountId' | 'declaredAccountId'>;

/** The public keys an entry's key fields yield, each read on its own (an entry's other fields may be broken). */
interface KeysRead {
  nodeKey: string;
  accountPublicKey?: string | undefined;
  p2pPublicKey?: string | undefined;
}

/** An entry read: the node, when every field is usable, and the keys that could be read either way. */
interface EntryRead {
  entry: EntryKeys | undefined;
  keys: Omit<KeysRead, 'nodeKey'>;
}

const stringField = (e: Entry, f: Field) => (typeof e[f] === 'string' ? (e[f] as string) : undefined);

/** An entry with its secret keys: each secret must be a valid node key that derives the declared public key. */
function fullEntry(nodeKey: string, e: Entry, problems: string[]): EntryRead {
  for (const f of FIELDS) if (stringField(e, f) === undefined) problems.push(`${nodeKey}.${f}: missing`);
  const check = (field: Field, publicField: Field) => {
    const value = stringField(e, field);
    if (value === undefined) return undefined;
    const key = readNodeKey(value);
    if (key.problem !== undefined) {
      problems.push(`${nodeKey}.${field}: ${key.problem}`);
      return undefined;
    }
    const pk = key.publicKey;
    const declared = stringField(e, publicField);
    if (declared !== undefined && !isPublicKey(declared))
      problems.push(`${nodeKey}.${publicField}: is not an ed25519 public key`);
    else if (declared !== undefined && declared !== pk)
      problems.push(`${nodeKey}.${field}: does not derive ${publicField} (${declared.slice(0, 14)}…)`);
    return pk;
  };
  const accountPublicKey = check('MPC_ACCOUNT_SK', 'MPC_ACCOUNT_PK');
  const p2pPublicKey = check('MPC_P2P_PRIVATE_KEY', 'MPC_P2P_PUBLIC_KEY');
  const store = stringField(e, 'MPC_SECRET_STORE_KEY');
  if (store !== undefined && !isSecretStoreKey(store))
    problems.push(`${nodeKey}.MPC_SECRET_STORE_KEY: must be 32 hex characters (16 bytes)`);
  const sk = stringField(e, 'MPC_ACCOUNT_SK');
  const p2p = stringField(e, 'MPC_P2P_PRIVATE_KEY');
  const keys = { accountPublicKey, p2pPublicKey };
  if (!sk || !p2p || !store || !accountPublicKey || !p2pPublicKey || !stringField(e, 'MPC_ACCOUNT_ID'))
    return { entry: undefined, keys };
  const entry = { accountSecretKey: sk, accountPublicKey, p2pSecretKey: p2p, p2pPublicKey, secretStoreKey: store };
  return { entry, keys };
}

/** An entry of a public-only manifest: the account id and the two public keys, each field checked once. */
function publicEntry(nodeKey: string, e: Entry, problems: string[]): EntryRead {
  const usable = (f: Field) => {
    const v = stringField(e, f);
    if (v === undefined) problems.push(`${nodeKey}.${f}: missing`);
    else if (f !== 'MPC_ACCOUNT_ID' && !isPublicKey(v)) problems.push(`${nodeKey}.${f}: is not an ed25519 public key`);
    else return v;
    return undefined;
  };
  const [accountId, accountPublicKey, p2pPublicKey] = PUBLIC_FIELDS.map(usable);
  const keys = { accountPublicKey, p2pPublicKey };
  if (accountId === undefined || accountPublicKey === undefined || p2pPublicKey === undefined)
    return { entry: undefined, keys };
  return { entry: { accountPublicKey, p2pPublicKey } as EntryKeys, keys };
}

/**
 * The same key on two nodes (or as both keys of one) is a manifest mistake: named for every key that could
 * be read, also where the entry has another broken field, so one run names every problem.
 */
function duplicateKeys(nodes: KeysRead[], publicOnly: boolean): string[] {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  const [account, p2p] = publicOnly
    ? ['MPC_ACCOUNT_PK', 'MPC_P2P_PUBLIC_KEY']
    : ['MPC_ACCOUNT_SK', 'MPC_P2P_PRIVATE_KEY'];
  for (const n of nodes) {
    for (const [field, pk] of [
      [account, n.accountPublicKey],
      [p2p, n.p2pPublicKey],
    ] as const) {
      if (pk === undefined) continue;
      const other = seen.get(pk);
      if (other) problems.push(`${n.nodeKey}.${field}: the same key is also used by ${other}`);
      seen.set(pk, `${n.nodeKey}.${field}`);
    }
  }
  return problems;
}

/** JSON of a manifest (reports, run state) carries public keys only. */
export function withPublicJson<M extends LoadedManifest>(manifest: M): M {
  Object.defineProperty(manifest, 'toJSON', {
    value: () => ({
      path: manifest.path,
      publicOnly: manifest.publicOnly,
      nodes: manifest.nodes.map((n) => ({
        nodeKey: n.nodeKey,
        accountPublicKey: n.accountPublicKey,
        p2pPublicKey: n.p2pPublicKey,
        ...(n.source ? { source: n.source } : {}),
      })),
      warnings: manifest.warnings,
    }),
  });
  return manifest;
}

/** Why fix cannot use this manifest (it has no secret keys), or undefined when it can. */
export function secretsMissing(m: AnyManifest): string | undefined {
  if (!m.given)
    return "fix needs the manifest's secret keys: no keys manifest was given (set MPC_KEYS_FILE to mpc-node-keys.json)";
  if (!m.publicOnly) return undefined;
  return (
    `fix needs the manifest's secret keys: ${m.path} holds only public keys ` +
    '(MPC_ACCOUNT_PK, MPC_P2P_PUBLIC_KEY). Point MPC_KEYS_FILE at the manifest with MPC_ACCOUNT_SK, ' +
    'MPC_P2P_PRIVATE_KEY and MPC_SECRET_STORE_KEY (in CI: the secret MPC_NODE_KEYS_JSON, manual fix dispatch only).'
  );
}

/** The manifest with its secret keys, or a ManifestError whose message is the one sentence of `secretsMissing`. */
export function requireSecrets(m: AnyManifest): Manifest {
  const missing = secretsMissing(m);
  if (missing) throw new ManifestError(m.path ?? '(not given)', [missing], { sentence: missing });
  return m as Manifest;
}
