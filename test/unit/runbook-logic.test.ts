/** The runbook's pure logic, without servers: keys ' +
  'by the node's rules, the manifest, derivation, diagnosis, redaction. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { base58 } from '@scure/base';
import { deriveChildPublicKey, deriveTweak, evmAddress, toUncompressedHex } from '../../helpers/derivation.ts';
import { diagnose, errors } from '../../helpers/diagnosis.ts';
import type { NodeEvidence } from '../../helpers/evidence.ts';
import { loadManifest, ManifestError } from '../../helpers/manifest.ts';
import { normaliseSecretValue, nodeKeyProblem, parseNodeSecretKey } from '../../helpers/keys.ts';
import { Redactor } from '../../helpers/redact.ts';
import { manifestFor, resolveScenario, scenarioKey } from '../../twin/scenario.ts';
import { tempDir } from '../temp-dir.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const key = (i: number, gen = 'A', role: 'account' | 'p2p' = 'account') => scenarioKey('unit', role, i, gen);

describe('node keys by the MPC node rules', () => {
  const good = key(0).secretKey;
  const bytes = base58.decode(good.slice(8));
  test.for([
    ['no ed25519: prefix', good.slice(8), /must start with 'ed25519:'/],
    ['bad base58', 'ed25519:0OIl', /not valid base58/],
    ['wrong length', `ed25519:${base58.encode(bytes.slice(0, 40))}`, /40 bytes/],
    [
      'a 32-byte seed only (near-api-js accepts it; the node does not)',
      `ed25519:${base58.encode(bytes.slice(0, 32))}`,
      /32-byte seed/,
    ],
    [
      'a 64-byte key whose public half does not match its seed',
      `ed25519:${base58.encode(Uint8Array.from([...bytes.slice(0, 32), ...base58.decode(key(1).publicKey.slice(8))]))}`,
      /public half does not match/,
    ],
  ] as const)('%s is refused, and the error never quotes the value', ([, value, why]) => {
    expect(nodeKeyProblem(value)).toMatch(why);
    expect(() => parseNodeSecretKey(value, { node: 'node-3', field: 'MPC_ACCOUNT_SK' })).toThrow(
      /^node-3\.MPC_ACCOUNT_SK: /,
    );
    try {
      parseNodeSecretKey(value, { node: 'node-3', field: 'MPC_ACCOUNT_SK' });
    } catch (e) {
      expect((e as Error).message).not.toContain(value.slice(8, 30));
    }
  });
  test('a valid key gives its public key', () =>
    expect(parseNodeSecretKey(good, { node: 'n', field: 'f' }).publicKey).toBe(key(0).publicKey));

  test.for([
    ['plain', good, good],
    ['json-wrapped', JSON.stringify({ key: good }), good],
    ['trailing-newline', `${good}\n`, good],
    ['progress-text', `Waiting for secret...\n${good}`, good],
    ['placeholder', 'PLACEHOLDER_REPLACE_WITH_REAL_KEY', undefined],
    ['empty', '', undefined],
    ['missing', undefined, undefined],
  ] as const)('a Secrets Manager value shaped %s is recognised', ([shape, raw, value]) => {
    const n = normaliseSecretValue(raw);
    expect(n.shape).toBe(shape);
    expect(n.value).toBe(value);
  });
});

describe('the keys manifest', () => {
  const dir = tempDir('manifest-');
  const good = manifestFor(resolveScenario('healthy'));
  const write = (m: unknown, name: string) => {
    const p = join(dir, name);
    writeFileSync(p, typeof m === 'string' ? m : JSON.stringify(m));
    return p;
  };
  const expectFor = { nodeCount: 3, accountIdFor: (i: number) => `mpc-node-${i}.localnet` };
  const problemsOf = (m: unknown, name: string) => {
    try {
      loadManifest(write(m, name), expectFor);
      return [];
    } catch (e) {
      expect(e).toBeInstanceOf(ManifestError);
      return (e as ManifestError).problems;
    }
  };
  const clone = () => structuredClone(good);

  test('a good manifest loads, and serialises without its secrets', () => {
    const m = loadManifest(write(good, 'good.json'), expectFor);
    expect(m.nodes).toHaveLength(3);
    expect(JSON.stringify(m)).not.toContain(good['node-0']!.MPC_ACCOUNT_SK);
  });
  test('missing file / not JSON', () => {
    expect(() => loadManifest(join(dir, 'nope.json'), expectFor)).toThrow(/file not found/);
    expect(problemsOf('{not json', 'bad.json')).toEqual(['file is not valid JSON']);
  });
  test('a node missing, an extra node, a duplicate key across nodes', () => {
    const missing = clone();
    delete missing['node-2'];
    expect(problemsOf(missing, 'missing.json')).toContain('node-2: missing from the manifest');
    const extra = { ...clone(), 'node-3': clone()['node-0']! };
    expect(problemsOf(extra, 'extra.json').join('\n')).toMatch(/node-3: not a node of this deployment/);
    const dup = clone();
    dup['node-1']!.MPC_ACCOUNT_SK = dup['node-0']!.MPC_ACCOUNT_SK!;
    dup['node-1']!.MPC_ACCOUNT_PK = dup['node-0']!.MPC_ACCOUNT_PK!;
    expect(problemsOf(dup, 'dup.json').join('\n')).toMatch(
      /node-1\.MPC_ACCOUNT_SK: the same key is also used by node-0/,
    );
  });
  test('a shared key is named even where its node has another broken field (one run names every problem)', () => {
    const m = clone();
    m['node-0']!.MPC_P2P_PRIVATE_KEY = 'ed25519:0OIl';
    m['node-1']!.MPC_ACCOUNT_SK = m['node-0']!.MPC_ACCOUNT_SK!;
    m['node-1']!.MPC_ACCOUNT_PK = m['node-0']!.MPC_ACCOUNT_PK!;
    const problems = problemsOf(m, 'dup-and-broken.json').join('\n');
    expect(problems).toMatch(/node-0\.MPC_P2P_PRIVATE_KEY: is not valid base58/);
    expect(problems).toMatch(/node-1\.MPC_ACCOUNT_SK: the same key is also used by node-0\.MPC_ACCOUNT_SK/);
    const publicOnly = clone();
    for (const n of Object.values(publicOnly)) {
      for (const secret of ['MPC_ACCOUNT_SK', 'MPC_P2P_PRIVATE_KEY', 'MPC_SECRET_STORE_KEY'] as const) delete n[secret];
    }
    publicOnly['node-0']!.MPC_P2P_PUBLIC_KEY = 'not-a-key';
    publicOnly['node-1']!.MPC_ACCOUNT_PK = publicOnly['node-0']!.MPC_ACCOUNT_PK!;
    expect(problemsOf(publicOnly, 'dup-public.json').join('\n')).toMatch(
      /node-1\.MPC_ACCOUNT_PK: the same key is also used by node-0\.MPC_ACCOUNT_PK/,
    );
  });
  test('an SK that does not derive its PK, a bad p2p key, a bad secret store key; nothing quotes a value', () => {
    const m = clone();
    m['node-0']!.MPC_ACCOUNT_PK = key(9).publicKey;
    m['node-1']!.MPC_P2P_PRIVATE_KEY = 'ed25519:abc';
    m['node-2']!.MPC_SECRET_STORE_KEY = 'xyz';
    const problems = problemsOf(m, 'bad-keys.json').join('\n');
    expect(problems).toMatch(/node-0\.MPC_ACCOUNT_SK: does not derive MPC_ACCOUNT_PK/);
    expect(problems).toMatch(/node-1\.MPC_P2P_PRIVATE_KEY: /);
    expect(problems).toMatch(/node-2\.MPC_SECRET_STORE_KEY: must be 32 hex/);
    for (const n of Object.values(good)) expect(problems).not.toContain(n.MPC_ACCOUNT_SK!.slice(8));
  });
  test("an account id with the stale .node0 suffix is a warning, and the chain's id is used", () => {
    const m = clone();
    m['node-1']!.MPC_ACCOUNT_ID = 'mpc-node-1.node0';
    const loaded = loadManifest(write(m, 'node0.json'), expectFor);
    expect(loaded.warnings.join()).toMatch(/node-1\.MPC_ACCOUNT_ID: says mpc-node-1\.node0.*uses mpc-node-1\.localnet/);
    expect(loaded.nodes[1]!.accountId).toBe('mpc-node-1.localnet');
  });
});

describe('derivation matches the reference vectors', () => {
  test.for([
    ['hello', 'my-path', 'da30fae7557313c718e04d4691596618ce0f4d2d31d5c23cbc216ad0a86d2818'],
    ['alice.near', 'test', '640a73057ac6a5531e977445f5d76e1f73a51ea2bd10e575d5ab336c098aabf1'],
    ['test.localnet', 'ethereum-test', 'c62dab0bf5070b03df9fcaa547d639ed4f3cd09f6404955e9b1ab8dea3835201'],
  ] as const)('tweak(%s, %s)', ([p, path, want]) => expect(hex(deriveTweak(p, path))).toBe(want));

  test('derived key for alice.near / test from the mainnet-shaped root', () => {
    const root = 'secp256k1:3tFRbMqmoa6AAALMrEFAYCEoHcqKxeW38YptwowBVBtXK1vo36HDbUWuR6EZmoK4JcH6HDkNMGGqP1ouV7VZUWya';
    const d = deriveChildPublicKey(root, 'alice.near', 'test');
    expect(d).toBe(
      'secp256k1:5bQPDXyYyWvUDDqS67WkGCU7J6NcuywVqMfTsauAcP4sQFU14h22kAuAEuiEXv9Qxxm6oZLZwRgPBkwwsoSineCR',
    );
    expect(toUncompressedHex(d)).toBe(
      '04e5bc687a0d3c48ec470200cd5f295288c01931dee362f24127a488dfb2e2b9a7' +
        '49516ff33f3c5ea763d8f2a22c58293e9cc5826a7832d8125f76e6459c099082',
    );
  });

  test('EVM address of the public key of scalar 1 is the well-known 0x7E5F…5Bdf', () => {
    const g = `secp256k1:${base58.encode(secp256k1.Point.BASE.toBytes(false).slice(1))}`;
    expect(evmAddress(g)).toBe('0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf');
  });
});

describe('diagnosis across the four places', () => {
  const ev = (i: number, o: { chain?: string; sm?: string; manifest?: string; node?: string } = {}): NodeEvidence => ({
    index: i,
    accountId: `mpc-node-${i}.localnet`,
    instanceId: `i-${i}`,
    privateIp: `10.0.0.${i}`,
    chain: {
      accountExists: true,
      accessKeys: [{ publicKey: o.chain ?? key(i).publicKey, permission: 'FullAccess' }],
      participantSignPk: key(i, 'A', 'p2p').publicKey,
    },
    secretsManager: {
      account: { secretName: `mpc-node-${i}-mpc_account_sk`, shape: 'plain', publicKey: o.sm ?? key(i).publicKey },
      p2p: { secretName: `mpc-node-${i}-mpc_p2p_private_key`, shape: 'plain', publicKey: key(i, 'A', 'p2p').publicKey },
    },
    manifest: {
      nodeKey: `node-${i}`,
      accountId: `mpc-node-${i}.localnet`,
      accountPublicKey: o.manifest ?? key(i).publicKey,
      p2pPublicKey: key(i, 'A', 'p2p').publicKey,
      problems: [],
    },
    node: {
      reachable: true,
      healthy: true,
      signerPublicKey: o.node ?? key(i).publicKey,
      p2pPublicKey: key(i, 'A', 'p2p').publicKey,
    },
  });

  test('all four agree: no findings', () =>
    expect(diagnose([ev(0), ev(1)], { contractId: 'v1.signer.localnet' })).toEqual([]));

  test('the incident: secret and node hold another key; both repairs offered', () => {
    const f = errors(
      diagnose([ev(0, { sm: key(0, 'B').publicKey, node: key(0, 'B').publicKey })], {
        contractId: 'v1.signer.localnet',
      }),
    );
    expect(f.map((x) => [x.place, x.code, x.repair?.kind])).toEqual([
      ['secretsManager', 'secret-not-on-chain', 'restore-secret'],
      ['node', 'node-key-not-on-chain', 'rematerialise-node-secrets'],
    ]);
  });

  test('keys swapped between two nodes: refused, nothing to restore', () => {
    const f = errors(
      diagnose([ev(0, { manifest: key(1).publicKey }), ev(1, { manifest: key(0).publicKey })], {
        contractId: 'v1.signer.localnet',
      }),
    );
    expect(f.every((x) => !x.repair)).toBe(true);
    expect(f.find((x) => x.code === 'key-on-wrong-account')?.message).toMatch(
      /mpc-node-0\.localnet: the manifest's account key .* is on mpc-node-1\.localnet/,
    );
  });

  test('a manifest key that is on no account: refused with the reason', () => {
    const f = errors(
      diagnose([ev(0, { manifest: key(0, 'Z').publicKey, sm: key(0, 'Z').publicKey })], {
        contractId: 'v1.signer.localnet',
      }),
    );
    expect(f.find((x) => x.code === 'manifest-key-not-on-chain')?.refusal).toMatch(/manifest cannot settle/);
    expect(f.find((x) => x.code === 'secret-not-on-chain')?.repair).toBeUndefined();
  });
});

describe('redaction by value', () => {
  const secret = key(5).secretKey;
  const r = new Redactor();
  r.add(secret);
  test.for([
    ['raw', `key=${secret}`],
    ['JSON-escaped', JSON.stringify({ v: `x"${secret}` })],
    ['base64', Buffer.from(secret).toString('base64')],
    ['base58 body only', secret.slice(8)],
  ] as const)('%s form is scrubbed', ([, text]) => {
    expect(r.containsSecret(text)).toBe(true);
    expect(r.redact(text)).not.toContain(secret.slice(8, 40));
    expect(r.redact(text)).toContain('[REDACTED:');
  });
  test(
    'a process that never saw a secret still scrubs anything shaped like an ed25519 secret key, ' +
      'and keeps public keys',
    () => {
      const stranger = new Redactor();
      const other = key(6);
      const out = stranger.redact(`sk ${other.secretKey} pk ${other.publicKey}`);
      expect(out).not.toContain(other.secretKey.slice(8, 40));
      expect(out).toContain(other.publicKey);
    },
  );
  test('errors thrown by libraries are scrubbed, causes included', () => {
    const e = r.redactError(new Error(`bad key ${secret}`, { cause: new Error(`inner ${secret}`) }));
    expect(`${e.message} ${e.stack} ${(e.cause as Error).message}`).not.toContain(secret.slice(8));
  });
});
