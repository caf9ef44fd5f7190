/**
 * npm run keys: which manifest holds the on-chain keys, against a twin. Two manifests written here
 * (one matching the chain, one a later "redeploy" that does not), and a git repository whose
 * history holds both, for the git:<rev>:<path> form. Read-only, no secret in the output.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { scenarioKey } from '../../twin/scenario.ts';
import { leakedSecrets, runScript } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';
import { tempDir } from '../temp-dir.ts';

describe('npm run keys against the healthy twin', () => {
  const startedTwin = useTwin('healthy');
  const dir = tempDir('keys-script-');

  /** The twin's manifest (its keys are on chain) and a regenerated one (nothing in it is on chain). */
  function manifests() {
    const twin = startedTwin();
    const onChain = readFileSync(twin.manifestPath, 'utf8');
    const parsed = JSON.parse(onChain) as Record<string, Record<string, string>>;
    const regenerated = Object.fromEntries(
      Object.entries(parsed).map(([k, v], i) => {
        const account = scenarioKey('redeploy', 'account', i, 'X');
        const p2p = scenarioKey('redeploy', 'p2p', i, 'X');
        return [
          k,
          {
            ...v,
            MPC_ACCOUNT_SK: account.secretKey,
            MPC_ACCOUNT_PK: account.publicKey,
            MPC_P2P_PRIVATE_KEY: p2p.secretKey,
            MPC_P2P_PUBLIC_KEY: p2p.publicKey,
          },
        ];
      }),
    );
    const secrets = Object.values(regenerated).flatMap((v) => [v.MPC_ACCOUNT_SK!, v.MPC_P2P_PRIVATE_KEY!]);
    return { twin, onChain, regenerated: JSON.stringify(regenerated, null, 2), secrets };
  }
  const clean = (output: string, m: ReturnType<typeof manifests>) => {
    expect(leakedSecrets(m.twin, output)).toEqual([]);
    for (const s of m.secrets) expect(output).not.toContain(s.slice(8));
  };

  test('two files, accounts from the stack outputs: the matching one is used for every node', async () => {
    const m = manifests();
    writeFileSync(join(dir, 'old.json'), m.onChain);
    writeFileSync(join(dir, 'new.json'), m.regenerated);
    const r = await runScript('keys.ts', [join(dir, 'new.json'), join(dir, 'old.json')], m.twin.env);
    expect(r.code, r.output).toBe(0);
    for (const n of m.twin.nodes) expect(r.output).toContain(`${n.accountId}: uses ${join(dir, 'old.json')}`);
    expect(r.output).toMatch(/every node has a candidate whose keys are on chain/);
    clean(r.output, m);
  });

  test('only the regenerated manifest (MPC_KEYS_FILE, --accounts): every node refused, exit 1', async () => {
    const m = manifests();
    writeFileSync(join(dir, 'only-new.json'), m.regenerated);
    const accounts = m.twin.nodes.map((n) => n.accountId).join(',');
    const env = { ...m.twin.env, MPC_KEYS_FILE: join(dir, 'only-new.json'), AWS_ENDPOINT_URL: 'http://127.0.0.1:9' };
    const r = await runScript('keys.ts', ['--accounts', accounts], env);
    expect(r.code, r.output).toBe(1);
    expect(r.output).toMatch(/mpc-node-0\.localnet: uses .*only-new\.json \(its keys are NOT all on chain/);
    expect(r.output).toMatch(/not every node has a candidate whose keys are on chain/);
    clean(r.output, m);
  });

  test('git revisions of one file: the revision whose keys are on chain is found', async () => {
    const m = manifests();
    const repo = tempDir('keys-git-');
    const git = (...a: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...a], {
        cwd: repo,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
        .toString()
        .trim();
    mkdirSync(join(repo, 'infra'));
    git('init', '-q', '-b', 'main');
    writeFileSync(join(repo, 'infra', 'mpc-node-keys.json'), m.onChain);
    git('add', '.');
    git('commit', '-q', '-m', 'keys at deploy time');
    writeFileSync(join(repo, 'infra', 'mpc-node-keys.json'), m.regenerated);
    git('commit', '-q', '-am', 'regenerated keys');
    const file = join(repo, 'infra', 'mpc-node-keys.json');
    const r = await runScript('keys.ts', [`git:HEAD:${file},git:HEAD~1:${file}`], m.twin.env);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`mpc-node-1.localnet: uses git:HEAD~1:${file}`);
    expect(r.output).toMatch(/git:HEAD:.*\s+no\s+/); // the newer revision's account keys are not on chain
    clean(r.output, m);

    const missing = await runScript('keys.ts', [`git:no-such-rev:${file}`], m.twin.env);
    expect(missing.code).toBe(2);
    expect(missing.output).toMatch(/candidate git:no-such-rev:.*: revision no-such-rev does not exist/);
  });
});
