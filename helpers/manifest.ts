/**
 * The keys manifest (mpc-node-keys.json): one entry per node with the account key, the p2p key and
 * the secret store key. Every problem is collected and reported as `node-1.MPC_ACCOUNT_SK: …`;
 * values are registered with the redactor and never appear in errors.
 */
import { readFileSync } from 'node:fs';
import { isPublicKey, isSecretStoreKey, nodeKeyProblem, parseNodeSecretKey } from './keys.ts';
import { redactor } from './redact.ts';

export interface ManifestNode {
  nodeKey: string;
  index: number;
  accountId: string;
  /** MPC_ACCOUNT_ID as the manifest writes it (may be a stale suffix such as .node0). */
  declaredAccountId: string;
  accountSecretKey: string;
  accountPublicKey: string;
  p2pSecretKey: string;
  p2pPublicKey: string;
  secretStoreKey: string;
}

export class ManifestError extends Error {
  readonly problems: string[];
  constructor(path: string, problems: string[]) {
    super(
      `keys manifest ${path} is not usable:\n  - ${problems.join('\n  - ')}\nNothing was written. Fix the manifest (or MPC_KEYS_FILE) and run again.`,
    );
    this.problems = problems;
  }
}

export interface Manifest {
  path: string;
  nodes: ManifestNode[];
  /** Findings that do not make the manifest unusable (e.g. a stale .node0 account id). */
  warnings: string[];
}

const FIELDS = [
  'MPC_ACCOUNT_ID',
  'MPC_ACCOUNT_SK',
  'MPC_ACCOUNT_PK',
  'MPC_P2P_PRIVATE_KEY',
  'MPC_P2P_PUBLIC_KEY',
  'MPC_SECRET_STORE_KEY',
] as const;

export function loadManifest(
  path: string,
  expect: { nodeCount: number; accountIdFor: (i: number) => string },
): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ManifestError(path, [
      code === 'ENOENT'
        ? 'file not found (set MPC_KEYS_FILE to the mpc-node-keys.json manifest)'
        : 'file is not valid JSON',
    ]);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new ManifestError(path, ['the top level must be an object {"node-0": {…}, …}']);
  const problems: string[] = [];
  const warnings: string[] = [];
  const entries = raw as Record<string, Record<string, unknown>>;
  for (const v of Object.values(entries)) {
    if (v && typeof v === 'object')
      for (const f of FIELDS) if (typeof v[f] === 'string' && /SK|PRIVATE|STORE/.test(f)) redactor.add(v[f] as string);
  }
  for (const key of Object.keys(entries)) {
    const m = /^node-(\d+)$/.exec(key);
    if (!m || Number(m[1]) >= expect.nodeCount)
      problems.push(`${key}: not a node of this deployment (expected node-0 … node-${expect.nodeCount - 1})`);
  }
  const nodes: ManifestNode[] = [];
  for (let i = 0; i < expect.nodeCount; i++) {
    const nodeKey = `node-${i}`;
    const e = entries[nodeKey];
    if (!e || typeof e !== 'object') {
      problems.push(`${nodeKey}: missing from the manifest`);
      continue;
    }
    const str = (f: (typeof FIELDS)[number]) => (typeof e[f] === 'string' ? (e[f] as string) : undefined);
    for (const f of FIELDS) if (str(f) === undefined) problems.push(`${nodeKey}.${f}: missing`);
    const sk = str('MPC_ACCOUNT_SK');
    const p2p = str('MPC_P2P_PRIVATE_KEY');
    const store = str('MPC_SECRET_STORE_KEY');
    const check = (field: string, value: string | undefined, publicField: (typeof FIELDS)[number]) => {
      if (value === undefined) return undefined;
      const problem = nodeKeyProblem(value);
      if (problem) {
        problems.push(`${nodeKey}.${field}: ${problem}`);
        return undefined;
      }
      const pk = parseNodeSecretKey(value, { node: nodeKey, field }).publicKey;
      const declared = str(publicField);
      if (declared !== undefined && !isPublicKey(declared))
        problems.push(`${nodeKey}.${publicField}: is not an ed25519 public key`);
      else if (declared !== undefined && declared !== pk)
        problems.push(`${nodeKey}.${field}: does not derive ${publicField} (${declared.slice(0, 14)}…)`);
      return pk;
    };
    const accountPublicKey = check('MPC_ACCOUNT_SK', sk, 'MPC_ACCOUNT_PK');
    const p2pPublicKey = check('MPC_P2P_PRIVATE_KEY', p2p, 'MPC_P2P_PUBLIC_KEY');
    if (store !== undefined && !isSecretStoreKey(store))
      problems.push(`${nodeKey}.MPC_SECRET_STORE_KEY: must be 32 hex characters (16 bytes)`);
    const accountId = str('MPC_ACCOUNT_ID');
    const expected = expect.accountIdFor(i);
    if (accountId && accountId !== expected) {
      warnings.push(
        `${nodeKey}.MPC_ACCOUNT_ID: says ${accountId}, the deployment's account is ${expected}; the runbook uses ${expected}`,
      );
    }
    if (sk && p2p && store && accountPublicKey && p2pPublicKey) {
      nodes.push({
        nodeKey,
        index: i,
        accountId: expected,
        declaredAccountId: accountId ?? expected,
        accountSecretKey: sk,
        accountPublicKey,
        p2pSecretKey: p2p,
        p2pPublicKey,
        secretStoreKey: store,
      });
    }
  }
  const seen = new Map<string, string>();
  for (const n of nodes) {
    for (const [field, pk] of [
      ['MPC_ACCOUNT_SK', n.accountPublicKey],
      ['MPC_P2P_PRIVATE_KEY', n.p2pPublicKey],
    ] as const) {
      const other = seen.get(pk);
      if (other) problems.push(`${n.nodeKey}.${field}: the same key is also used by ${other}`);
      seen.set(pk, `${n.nodeKey}.${field}`);
    }
  }
  if (problems.length) throw new ManifestError(path, problems);
  const manifest = { path, nodes, warnings };
  Object.defineProperty(manifest, 'toJSON', {
    value: () => ({
      path,
      nodes: nodes.map((n) => ({
        nodeKey: n.nodeKey,
        accountPublicKey: n.accountPublicKey,
        p2pPublicKey: n.p2pPublicKey,
      })),
      warnings,
    }),
  });
  return manifest;
}
