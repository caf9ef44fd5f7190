/**
 * The keys manifest: public-only manifests (gate and plan need no secret keys), no manifest at all,
 * and several candidate manifests (files and git revisions) of which, per node, the one whose keys
 * are on chain is used. Keys are generated; nothing quotes a secret.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  CandidateError,
  type ChainNodeKeys,
  chooseManifestKeys,
  loadCandidates,
  parseCandidateList,
} from '../../helpers/manifest-candidates.ts';
import {
  loadManifest,
  ManifestError,
  NO_MANIFEST,
  readManifest,
  requireSecrets,
  secretsMissing,
} from '../../helpers/manifest.ts';
import { scenarioKey } from '../../twin/scenario.ts';
import { tempDir } from '../temp-dir.ts';

const NODES = 3;
const expectFor = { nodeCount: NODES, accountIdFor: (i: number) => `mpc-node-${i}.localnet` };
const key = (role: 'account' | 'p2p', i: number, gen: string) => scenarioKey('candidates', role, i, gen);
const storeKey = (i: number, gen: string) =>
  Buffer.from(`${gen}-store-${i}`.padEnd(16, '.')).toString('hex').slice(0, 32);

/** A manifest as generate-test-keys.sh writes it, every node's keys from generation `gen` (per node override). */
function manifest(gen: string, per: Record<number, string> = {}) {
  return Object.fromEntries(
    Array.from({ length: NODES }, (_, i) => {
      const g = per[i] ?? gen;
      return [
        `node-${i}`,
        {
          MPC_ACCOUNT_ID: `mpc-node-${i}.node0`,
          MPC_ACCOUNT_SK: key('account', i, g).secretKey,
          MPC_ACCOUNT_PK: key('account', i, g).publicKey,
          MPC_P2P_PRIVATE_KEY: key('p2p', i, g).secretKey,
          MPC_P2P_PUBLIC_KEY: key('p2p', i, g).publicKey,
          MPC_SECRET_STORE_KEY: storeKey(i, g),
        },
      ];
    }),
  );
}
const publicOnly = (m: ReturnType<typeof manifest>) =>
  Object.fromEntries(
    Object.entries(m).map(([k, v]) => [
      k,
      { MPC_ACCOUNT_ID: v.MPC_ACCOUNT_ID, MPC_ACCOUNT_PK: v.MPC_ACCOUNT_PK, MPC_P2P_PUBLIC_KEY: v.MPC_P2P_PUBLIC_KEY },
    ]),
  );
const secretsOf = (...ms: ReturnType<typeof manifest>[]) =>
  ms.flatMap((m) => Object.values(m).flatMap((v) => [v.MPC_ACCOUNT_SK, v.MPC_P2P_PRIVATE_KEY, v.MPC_SECRET_STORE_KEY]));
/** The chain as generation `gen` put it there (per node override). */
const chainOf = (gen: string, per: Record<number, string> = {}): ChainNodeKeys[] =>
  Array.from({ length: NODES }, (_, i) => ({
    index: i,
    accountId: `mpc-node-${i}.localnet`,
    accessKeys: [key('account', i, per[i] ?? gen).publicKey],
    signPk: key('p2p', i, per[i] ?? gen).publicKey,
  }));

const dir = tempDir('manifest-candidates-');
const write = (name: string, m: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(m));
  return p;
};

describe('a manifest with only public keys', () => {
  test('loads for gate and plan, flagged public-only, with the warnings a full one has', () => {
    const m = readManifest(write('public.json', publicOnly(manifest('A'))), expectFor);
    expect(m.publicOnly).toBe(true);
    expect(m.given).toBe(true);
    expect(m.nodes.map((n) => n.accountPublicKey)).toEqual([0, 1, 2].map((i) => key('account', i, 'A').publicKey));
    expect(m.nodes[0]).not.toHaveProperty('accountSecretKey');
    expect(m.warnings).toHaveLength(3); // .node0 account ids
  });
  test('a full manifest is not public-only', () => {
    const m = readManifest(write('full.json', manifest('A')), expectFor);
    expect(m.publicOnly).toBe(false);
    expect(requireSecrets(m)).toBe(m);
    expect(secretsMissing(m)).toBeUndefined();
  });
  test('fix needs the secret keys: one sentence that says the manifest holds only public keys', () => {
    const path = write('public-fix.json', publicOnly(manifest('A')));
    const m = readManifest(path, expectFor);
    expect(secretsMissing(m)).toMatch(
      new RegExp(`^fix needs the manifest's secret keys: ${path.replace(/[.]/g, '\\.')} holds only public keys`),
    );
    expect(() => requireSecrets(m)).toThrow(ManifestError);
    expect(() => loadManifest(path, expectFor)).toThrow(
      /^fix needs the manifest's secret keys: .* holds only public keys/,
    );
  });
  test('a public key that is not one, or missing, is a problem naming the field', () => {
    const bad = publicOnly(manifest('A'));
    bad['node-1']!.MPC_ACCOUNT_PK = 'ed25519:abc';
    delete (bad['node-2'] as Record<string, string>).MPC_P2P_PUBLIC_KEY;
    expect(() => readManifest(write('public-bad.json', bad), expectFor)).toThrow(
      /node-1\.MPC_ACCOUNT_PK: is not an ed25519 public key[\s\S]*node-2\.MPC_P2P_PUBLIC_KEY: missing/,
    );
  });
  test('one node with secret keys makes the manifest a full one: the others then lack theirs', () => {
    const mixed = { ...publicOnly(manifest('A')), 'node-0': manifest('A')['node-0']! };
    expect(() => readManifest(write('mixed.json', mixed), expectFor)).toThrow(/node-1\.MPC_ACCOUNT_SK: missing/);
  });
  test('no manifest at all is representable, and fix says what is missing', () => {
    expect(NO_MANIFEST.given).toBe(false);
    expect(NO_MANIFEST.nodes).toEqual([]);
    expect(secretsMissing(NO_MANIFEST)).toMatch(/no keys manifest was given \(set MPC_KEYS_FILE/);
    expect(() => requireSecrets(NO_MANIFEST)).toThrow(/no keys manifest was given/);
  });
  test('its JSON carries public keys only', () => {
    const full = manifest('A');
    const m = readManifest(write('json.json', full), expectFor);
    const json = JSON.stringify(m);
    expect(json).toContain('"publicOnly":false');
    for (const s of secretsOf(full)) expect(json).not.toContain(s);
  });
});

describe('choosing, per node, the candidate whose keys are on chain (pure)', () => {
  const a = manifest('A');
  const b = manifest('B');
  const cand = (label: string, m: unknown) => ({ label, manifest: readManifest(write(`${label}.json`, m), expectFor) });

  test('one candidate behaves as a single MPC_KEYS_FILE always did: used even when not on chain', () => {
    const only = cand('only', b);
    const choice = chooseManifestKeys([only], chainOf('A'));
    expect(choice.manifest).toBe(only.manifest);
    expect(choice.refusals).toEqual([]);
    expect(choice.nodes.map((n) => n.chosen)).toEqual(['only', 'only', 'only']);
    expect(choice.table).toMatch(/mpc-node-0\.localnet: uses only \(its keys are NOT all on chain/);
  });

  test('two candidates, one on chain: it is used for every node, and the table says which', () => {
    const choice = chooseManifestKeys([cand('new', b), cand('old', a)], chainOf('A'));
    expect(choice.refusals).toEqual([]);
    expect(choice.nodes.map((n) => n.chosen)).toEqual(['old', 'old', 'old']);
    expect(choice.manifest.publicOnly).toBe(false);
    expect(choice.manifest.nodes.map((n) => n.source)).toEqual(['old', 'old', 'old']);
    expect(choice.manifest.nodes.map((n) => n.accountPublicKey)).toEqual(
      [0, 1, 2].map((i) => key('account', i, 'A').publicKey),
    );
    const row = choice.rows.find((r) => r.index === 0 && r.candidate === 'new')!;
    expect(row).toMatchObject({ accountOnChain: false, p2pIsSignPk: false, used: false });
    expect(choice.table).toMatch(/mpc-node-0\.localnet: uses old$/m);
    for (const s of secretsOf(a, b)) expect(choice.table).not.toContain(s);
  });

  test('different nodes on chain from different revisions: each node uses its own', () => {
    const choice = chooseManifestKeys([cand('rev1', a), cand('rev2', b)], chainOf('A', { 2: 'B' }));
    expect(choice.nodes.map((n) => n.chosen)).toEqual(['rev1', 'rev1', 'rev2']);
    expect(choice.manifest.path).toBe('rev1, rev2');
  });

  test('none on chain for a node: refused with the reason, and that node is left out of the manifest', () => {
    const choice = chooseManifestKeys([cand('x1', a), cand('x2', b)], chainOf('A', { 1: 'C' }));
    expect(choice.nodes[1]!.chosen).toBeUndefined();
    expect(choice.refusals).toEqual([
      expect.stringMatching(/^mpc-node-1\.localnet: none of the 2 candidates \(x1, x2\) holds a key that is on chain/),
    ]);
    expect(choice.manifest.nodes.map((n) => n.index)).toEqual([0, 2]);
    expect(choice.table).toMatch(/mpc-node-1\.localnet: refused — none of the 2 candidates/);
  });

  test('two candidates both on chain but disagreeing (the account has both keys): refused', () => {
    const chain = chainOf('A');
    chain[0]!.accessKeys.push(key('account', 0, 'B').publicKey);
    chain[0]!.signPk = undefined; // no participant sign_pk to tell the p2p keys apart
    const choice = chooseManifestKeys([cand('d1', a), cand('d2', b)], chain);
    expect(choice.nodes[0]!.refusal).toMatch(
      /candidates d1 and d2 are both on chain for mpc-node-0\.localnet but disagree/,
    );
    expect(choice.nodes[1]!.chosen).toBe('d1');
  });

  test('two candidates with the same keys agree: the first is used', () => {
    const choice = chooseManifestKeys([cand('same1', a), cand('same2', publicOnly(a))], chainOf('A'));
    expect(choice.refusals).toEqual([]);
    expect(choice.nodes.map((n) => n.chosen)).toEqual(['same1', 'same1', 'same1']);
  });

  test('the account key on chain but the p2p key not the sign_pk is not a match, and the refusal says so', () => {
    const half = manifest('A', {});
    const choice = chooseManifestKeys(
      [cand('half', half), cand('other', b)],
      chainOf('A').map((c) => ({
        ...c,
        signPk: key('p2p', c.index, 'B').publicKey,
      })),
    );
    expect(choice.nodes[0]!.refusal).toMatch(
      /half holds the account key that is on chain, but its p2p key .* is not the participant sign_pk/,
    );
  });

  test('a public-only candidate on chain makes the chosen manifest public-only: fix says which', () => {
    const choice = chooseManifestKeys([cand('pub', publicOnly(a)), cand('wrong', b)], chainOf('A'));
    expect(choice.manifest.publicOnly).toBe(true);
    expect(secretsMissing(choice.manifest)).toMatch(/pub holds only public keys/);
  });
});

describe('loading candidates: files and git revisions', () => {
  const repo = tempDir('keys-repo-');
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
      .toString()
      .trim();
  mkdirSync(join(repo, 'infra'));
  git('init', '-q', '-b', 'main');
  writeFileSync(join(repo, 'infra', 'mpc-node-keys.json'), JSON.stringify(manifest('A')));
  git('add', '.');
  git('commit', '-q', '-m', 'keys A');
  const revA = git('rev-parse', 'HEAD');
  writeFileSync(join(repo, 'infra', 'mpc-node-keys.json'), JSON.stringify(manifest('B')));
  git('commit', '-q', '-am', 'keys B');

  test('MPC_KEYS_FILE splits on commas; git:<rev>:<path> is a revision', () => {
    expect(parseCandidateList(' a.json, git:HEAD~1:infra/k.json ,,')).toEqual([
      { label: 'a.json', kind: 'file', path: 'a.json' },
      { label: 'git:HEAD~1:infra/k.json', kind: 'git', rev: 'HEAD~1', path: 'infra/k.json' },
    ]);
    expect(() => parseCandidateList('git:HEAD')).toThrow(CandidateError);
  });

  test('a revision, relative to the work tree top or to the current directory, and a file', () => {
    const cands = loadCandidates(
      ['infra/mpc-node-keys.json', `git:${revA}:infra/mpc-node-keys.json`, 'git:HEAD~1:./infra/mpc-node-keys.json'],
      expectFor,
      { cwd: repo },
    );
    expect(cands.map((c) => c.label)).toEqual([
      'infra/mpc-node-keys.json',
      `git:${revA}:infra/mpc-node-keys.json`,
      'git:HEAD~1:./infra/mpc-node-keys.json',
    ]);
    expect(cands[0]!.manifest.nodes[0]!.accountPublicKey).toBe(key('account', 0, 'B').publicKey);
    expect(cands[1]!.manifest.nodes[0]!.accountPublicKey).toBe(key('account', 0, 'A').publicKey);
    const inInfra = loadCandidates('git:HEAD~1:./mpc-node-keys.json', expectFor, { cwd: join(repo, 'infra') });
    expect(inInfra[0]!.manifest.nodes[0]!.accountPublicKey).toBe(key('account', 0, 'A').publicKey);
    const choice = chooseManifestKeys(cands, chainOf('A'));
    expect(choice.nodes.map((n) => n.chosen)).toEqual(Array(3).fill(`git:${revA}:infra/mpc-node-keys.json`));
  });

  test('a path given from outside the work tree is read from the repository it is in', () => {
    const [c] = loadCandidates(`git:HEAD~1:${join(repo, 'infra', 'mpc-node-keys.json')}`, expectFor, { cwd: tmpdir() });
    expect(c!.manifest.nodes[1]!.accountPublicKey).toBe(key('account', 1, 'A').publicKey);
  });

  test.for([
    [
      'git:no-such-rev:infra/mpc-node-keys.json',
      /candidate git:no-such-rev:infra\/mpc-node-keys\.json: revision no-such-rev does not exist in the repository at /,
    ],
    [
      'git:HEAD:infra/nope.json',
      /candidate git:HEAD:infra\/nope\.json: infra\/nope\.json does not exist at revision HEAD/,
    ],
    ['git:--output=x:infra/mpc-node-keys.json', /cannot start with "-"/],
  ] as const)('%s: a clear error naming the candidate', ([spec, message]) => {
    expect(() => loadCandidates(spec, expectFor, { cwd: repo })).toThrow(message);
  });

  test('outside any git work tree, and without git on PATH', () => {
    const plain = tempDir('not-a-repo-');
    writeFileSync(join(plain, 'k.json'), '{}');
    expect(() => loadCandidates('git:HEAD:./k.json', expectFor, { cwd: plain })).toThrow(
      /candidate git:HEAD:\.\/k\.json: .* is not inside a git work tree/,
    );
    const path = process.env.PATH;
    process.env.PATH = plain;
    try {
      expect(() => loadCandidates('git:HEAD:infra/mpc-node-keys.json', expectFor, { cwd: repo })).toThrow(
        /git cannot be run \(ENOENT\)/,
      );
    } finally {
      process.env.PATH = path;
    }
  });

  test('a broken candidate file names the candidate; a candidate named twice is refused', () => {
    writeFileSync(join(repo, 'broken.json'), '{nope');
    expect(() => loadCandidates('broken.json', expectFor, { cwd: repo })).toThrow(
      /keys manifest .*broken\.json is not usable/,
    );
    expect(() => loadCandidates('a.json,a.json', expectFor, { cwd: repo })).toThrow(/a\.json: named twice/);
  });
});
