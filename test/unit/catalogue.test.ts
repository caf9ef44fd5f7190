/**
 * The failure-mode catalogue without servers: each diagnosis the runbook names (pure judgement over
 * evidence) and the catalogue entry the report matches from its words, including the cases the end-to-end
 * scenarios do not run (a p2p secret the manifest cannot settle, a known older contract, a low allowance
 * with a FullAccess key at hand).
 */
import { describe, expect, test } from 'vitest';
import { CATALOGUE, catalogueLine, knownFailures } from '../../helpers/catalogue.ts';
import { diagnose, errors, NODE_METHODS, nodeCallCost } from '../../helpers/diagnosis.ts';
import type { NodeEvidence, OnChainKey } from '../../helpers/evidence.ts';
import { decimal, explain, nearAmount } from '../../helpers/explain.ts';
import { normaliseSecretValue } from '../../helpers/keys.ts';
import { type ContractSeen, judgeContract } from '../../helpers/preflight.ts';
import { scenarioKey } from '../../twin/scenario.ts';

const key = (i: number, gen = 'A', role: 'account' | 'p2p' = 'account') => scenarioKey('catalogue', role, i, gen);
const GAS_PRICE = 100_000_000n;
const contractId = 'v1.signer.localnet';

function ev(i: number, o: { keys?: OnChainKey[]; balance?: string; p2p?: { sm?: string; manifest?: string } } = {}) {
  const signPk = key(i, 'A', 'p2p').publicKey;
  const evidence: NodeEvidence = {
    index: i,
    accountId: `mpc-node-${i}.localnet`,
    instanceId: `i-${i}`,
    privateIp: `10.0.0.${i}`,
    chain: {
      accountExists: true,
      accessKeys: o.keys ?? [{ publicKey: key(i).publicKey, permission: 'FullAccess' }],
      participantSignPk: signPk,
      balance: o.balance ?? '10000000000000000000000000',
    },
    secretsManager: {
      account: { secretName: `mpc-node-${i}-mpc_account_sk`, shape: 'plain', publicKey: key(i).publicKey },
      p2p: { secretName: `mpc-node-${i}-mpc_p2p_private_key`, shape: 'plain', publicKey: o.p2p?.sm ?? signPk },
    },
    manifest: {
      nodeKey: `node-${i}`,
      accountId: `mpc-node-${i}.localnet`,
      accountPublicKey: key(i).publicKey,
      p2pPublicKey: o.p2p?.manifest ?? signPk,
      problems: [],
    },
    node: { reachable: true, healthy: true, signerPublicKey: key(i).publicKey, p2pPublicKey: o.p2p?.sm ?? signPk },
  };
  return evidence;
}
const fc = (i: number, f: { receiver?: string; methods?: string[]; allowance?: string | null }): OnChainKey => ({
  publicKey: key(i).publicKey,
  permission: {
    FunctionCall: {
      receiver_id: f.receiver ?? contractId,
      method_names: f.methods ?? NODE_METHODS,
      allowance: f.allowance === undefined ? null : f.allowance,
    },
  },
});
const judged = (evs: NodeEvidence[]) => errors(diagnose(evs, { contractId, gasPrice: GAS_PRICE }));
const said = (failures: string[], warnings: string[] = []) => knownFailures({ failures, warnings }).map((e) => e.id);

describe('amounts', () => {
  test('a node call costs (300 + 2.428) Tgas at the gas price; yocto reads as NEAR', () => {
    expect(nodeCallCost(GAS_PRICE)).toBe(30_242_800_000_000_000_000_000n);
    expect(nearAmount(30_242_800_000_000_000_000_000n)).toBe('0.0302428 NEAR');
    expect(nearAmount('10000000000000000000000000')).toBe('10 NEAR');
    expect(decimal(302_428_000_000_000n, 12)).toBe('302.428');
  });
});

describe('node accounts and their keys on chain', () => {
  test('a FunctionCall key without the TEE-era methods: named with the missing methods, refused', () => {
    const f = judged([ev(1, { keys: [fc(1, { methods: NODE_METHODS.slice(0, 1) })] })]);
    expect(f.map((x) => [x.code, x.place, !!x.repair])).toEqual([['access-key-permission', 'chain', false]]);
    expect(f[0]!.message).toMatch(/whose method_names lack respond_ckd, vote_pk, .*MethodNameMismatch/);
    expect(f[0]!.refusal).toMatch(/it holds none, so nobody can change its keys/);
    expect(said([explain(f)])).toEqual(['fc-key-wrong-methods']);
  });

  test('a key for another receiver: ReceiverMismatch; with a FullAccess key at hand, the remedy signs with it', () => {
    const keys: OnChainKey[] = [
      fc(1, { receiver: 'v1.signer.node0' }),
      { publicKey: key(1, 'Z').publicKey, permission: 'FullAccess' },
    ];
    const f = judged([ev(1, { keys })]);
    expect(f[0]!.message).toMatch(/for v1\.signer\.node0, not v1\.signer\.localnet: .*ReceiverMismatch\)$/);
    expect(f[0]!.refusal).toMatch(/signed with a FullAccess key of mpc-node-1\.localnet$/);
    expect(said([explain(f)])).toEqual(['fc-key-wrong-methods']);
  });

  test('empty method_names allow every method: no finding', () =>
    expect(judged([ev(1, { keys: [fc(1, { methods: [] })] })])).toEqual([]));

  test('an allowance below one call: named with allowance and cost; an allowance of exactly one call is enough', () => {
    const f = judged([ev(2, { keys: [fc(2, { allowance: '20000000000000000000000' })] })]);
    expect(f[0]!.code).toBe('access-key-allowance');
    expect(f[0]!.message).toContain('has 0.02 NEAR (20000000000000000000000 yocto) of allowance left');
    expect(f[0]!.message).toContain('at least 0.0302428 NEAR (30242800000000000000000 yocto');
    expect(said([explain(f)])).toEqual(['fc-key-allowance-exhausted']);
    expect(judged([ev(2, { keys: [fc(2, { allowance: nodeCallCost(GAS_PRICE).toString() })] })])).toEqual([]);
  });

  test('a balance below one call: NotEnoughBalance, the runbook never moves funds', () => {
    const f = judged([ev(0, { balance: '10000000000000000000000' })]);
    expect(f.map((x) => x.code)).toEqual(['account-balance']);
    expect(f[0]!.refusal).toMatch(/^the runbook never moves funds/);
    expect(said([explain(f)])).toEqual(['node-account-broke']);
  });

  test('without the gas price (an older observation) funds are not judged', () =>
    expect(errors(diagnose([ev(0, { balance: '1' })], { contractId }))).toEqual([]));
});

describe('secrets', () => {
  const good = key(1).secretKey;

  test("the base58 body without 'ed25519:' is its own shape: the key recovered, the bootstrap's refusal named", () => {
    const n = normaliseSecretValue(good.slice('ed25519:'.length));
    expect(n).toMatchObject({ shape: 'no-prefix', value: good });
    expect(n.problem).toMatch(/without its 'ed25519:' prefix/);
    expect(normaliseSecretValue('5abc').shape).toBe('plain'); // not a key body: left to the key's own checks
  });

  test('a p2p secret that is not the sign_pk: restored when the manifest holds the sign_pk, refused otherwise', () => {
    const wrong = key(2, 'B', 'p2p').publicKey;
    const restorable = judged([ev(2, { p2p: { sm: wrong } })]);
    expect(restorable.map((x) => [x.place, x.code, x.repair?.kind])).toEqual([
      ['secretsManager', 'p2p-secret-mismatch', 'restore-secret'],
      ['node', 'node-p2p-mismatch', 'rematerialise-node-secrets'],
    ]);
    expect(said([explain(restorable)])).toEqual(['p2p-secret-mismatch']);
    const refused = judged([ev(2, { p2p: { sm: wrong, manifest: wrong } })]);
    expect(refused.every((x) => !x.repair)).toBe(true);
    expect(refused.map((x) => x.refusal)).toContain('the manifest has no p2p key equal to the participant sign_pk');
  });
});

describe('the contract account (00)', () => {
  const seen = (o: Partial<ContractSeen>): ContractSeen => ({
    contractId,
    codeHash: '4SKLfbnrk2BL8zKTVxLybwXLq8TMLgaCbBaJ9JHfdCCU',
    version: { value: '3.0.2' },
    ...o,
  });

  test('deployed, never initialised', () => {
    const v = judgeContract(
      seen({ version: { error: 'wasm … GuestPanic { panic_msg: "Calling default not allowed." })' } }),
    );
    expect(v.problems[0]!.message).toMatch(/holds the MPC contract 3\.0\.2 .* but was never initialised/);
    expect(said(v.problems.map((p) => p.message))).toEqual(['contract-not-initialised']);
  });

  test('no code, and another contract: the code hash against the known ones', () => {
    const none = judgeContract(seen({ codeHash: '11111111111111111111111111111111' }));
    const other = judgeContract(
      seen({ codeHash: 'Other111', version: { error: 'Contract method is not found at block height 9' } }),
    );
    for (const v of [none, other]) {
      expect(v.problems[0]!.message).toContain('4SKLfbnrk2BL8zKTVxLybwXLq8TMLgaCbBaJ9JHfdCCU = 3.0.2');
      expect(v.problems[0]!.message).toContain('AwGsqzBktLoUvdnUsNVrP8hFea3SywdRYHzmPead4Jts = 2.2.0');
      expect(said(v.problems.map((p) => p.message))).toEqual(['contract-missing']);
    }
  });

  test('an unknown code hash that answers version(), and 2.2.0: warnings, not failures', () => {
    const unknown = judgeContract(seen({ codeHash: 'Newer111', version: { value: '3.1.0' } }));
    expect(unknown.problems).toEqual([]);
    expect(unknown.warnings?.[0]).toMatch(/code_hash Newer111 is not one the runbook knows .*version\(\) says 3\.1\.0/);
    const older = judgeContract(
      seen({ codeHash: 'AwGsqzBktLoUvdnUsNVrP8hFea3SywdRYHzmPead4Jts', version: { value: '2.2.0' } }),
    );
    expect(older.problems).toEqual([]);
    expect(older.warnings?.join('\n')).toMatch(/2\.2\.0: nodes of 3\.x call submit_participant_info/);
  });

  test('Running with no domain: a warning at 00 naming the vote', () => {
    const state = {
      Running: {
        domains: { domains: [], next_domain_id: 0 },
        keyset: { epoch_id: 0, domains: [] },
        parameters: { participants: { next_id: 0, participants: [] }, threshold: 2 },
      },
    };
    const v = judgeContract(seen({ state }));
    expect(v.problems).toEqual([]);
    expect(v.warnings?.[0]).toMatch(/is Running with no domain: the participants never voted vote_add_domains/);
  });
});

describe('matching the catalogue from what a run said', () => {
  const incident =
    '- [secretsManager] x: Secrets Manager mpc-node-0-mpc_account_sk derives ed25519:AB…CD, ' +
    'which is not an access key of x';
  const stale =
    'x: the node signs with ed25519:AB…CD (/public_data), which is not an access key of x — ' +
    'its transactions fail with AccessKeyNotFound';

  test('the incident explains its AccessKeyNotFound; without it, the stale secrets.json does', () => {
    expect(said([incident, stale])).toEqual(['incident-key-mismatch']);
    expect(said([stale])).toEqual(['stale-node-secrets']);
  });

  test('the incident and the port collision together are the incident as deployed', () =>
    expect(said([incident, stale, 'mpc-node-0: [Initializing] failed: TCP bind …'])).toEqual(['incident-as-deployed']));

  test('a warning matches only a warning entry, a failure only a failure entry', () => {
    const drift = "node-0.MPC_ACCOUNT_ID: says mpc-node-0.node0, the deployment's account is mpc-node-0.localnet";
    expect(said([], [drift])).toEqual(['manifest-suffix-drift']);
    expect(said([drift])).toEqual([]);
    expect(said([], ['… NotEnoughBalance'])).toEqual([]);
  });

  test('nothing known, nothing named; the line points at the row', () => {
    expect(said(['something nobody has seen'])).toEqual([]);
    const entry = CATALOGUE.find((e) => e.id === 'node-account-broke')!;
    expect(catalogueLine(entry)).toBe(
      'Known failure: node-account-broke — docs/failure-modes.md#node-account-broke ' +
        '(no automatic repair: fund the node account)',
    );
  });
});
