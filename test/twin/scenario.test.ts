import { describe, expect, test } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { base58 } from '@scure/base';
import {
  CDK_MPC_INGRESS,
  listScenarios,
  loadScenario,
  manifestFor,
  resolveScenario,
  scenarioKey,
  scenarioSecrets,
  shapeSecretValue,
} from '../../twin/scenario.ts';

describe('scenario files', () => {
  test('the scenarios the runbook is proven on are all present and valid', () => {
    expect(listScenarios()).toEqual(
      expect.arrayContaining([
        'healthy',
        'incident-key-mismatch',
        'stale-node-secrets',
        'placeholder-secret',
        'json-wrapped-secret',
        'secret-with-trailing-newline',
        // the failure-mode catalogue (issue 14)
        'contract-not-initialised',
        'no-domain',
        'contract-missing',
        'fc-key-wrong-methods',
        'fc-key-allowance-exhausted',
        'node-account-broke',
        'secret-without-prefix',
        'p2p-secret-mismatch',
        'manifest-suffix-drift',
        'p2p-port-collision',
        'incident-as-deployed',
        'base-ip-changed',
        'node-not-attested',
        'one-node-down',
        'indexer-behind',
      ]),
    );
    for (const name of listScenarios()) expect(() => loadScenario(name)).not.toThrow();
  });

  test('an invalid scenario names the field that is wrong', () => {
    expect(() =>
      resolveScenario({ name: 'x', description: '', reproduces: '', keys: { account: { chain: 'A' } } } as never),
    ).toThrow(/keys\.account\.secretsManager|account/);
  });

  test('keys are 64-byte seed‖public ed25519 keypairs whose public half matches the seed', () => {
    const k = scenarioKey('seed', 'account', 0, 'A');
    const bytes = base58.decode(k.secretKey.slice('ed25519:'.length));
    expect(bytes.length).toBe(64);
    expect(base58.encode(ed25519.getPublicKey(bytes.slice(0, 32)))).toBe(k.publicKey.slice('ed25519:'.length));
    expect(base58.encode(bytes.slice(32))).toBe(k.publicKey.slice('ed25519:'.length));
  });

  test('the incident puts generation A on chain and in the manifest, B in Secrets Manager and on the node', () => {
    const s = resolveScenario('incident-key-mismatch');
    expect(s.nodeList).toHaveLength(3);
    for (const n of s.nodeList) {
      expect(n.account.chain!.publicKey).toBe(n.account.manifest!.publicKey);
      expect(n.account.secretsManager!.publicKey).toBe(n.account.node!.publicKey);
      expect(n.account.chain!.publicKey).not.toBe(n.account.node!.publicKey);
      expect(n.p2p.chain!.publicKey).toBe(n.p2p.node!.publicKey);
    }
    const keys = s.nodeList.map((n) => n.account.chain!.publicKey);
    expect(new Set(keys).size).toBe(3); // every node has its own key
  });

  test('node overrides and fleet size', () => {
    const s = resolveScenario('json-wrapped-secret', { nodes: 100 });
    expect(s.nodeList).toHaveLength(100);
    expect(s.threshold).toBe(60);
    expect(s.nodeList[0]!.secretShape).toBe('json-wrapped');
    expect(s.nodeList[1]!.secretShape).toBe('plain');
  });

  test('secret shapes and the manifest', () => {
    const k = scenarioKey('s', 'account', 1, 'A').secretKey;
    expect(JSON.parse(shapeSecretValue(k, 'json-wrapped'))).toEqual({ key: k });
    expect(shapeSecretValue(k, 'trailing-newline')).toBe(`${k}\n`);
    expect(shapeSecretValue(k, 'placeholder')).toBe('PLACEHOLDER_REPLACE_WITH_REAL_KEY');
    const m = manifestFor(resolveScenario('healthy'));
    expect(Object.keys(m)).toEqual(['node-0', 'node-1', 'node-2']);
    expect(m['node-1']!.MPC_ACCOUNT_ID).toBe('mpc-node-1.localnet');
    expect(m['node-1']!.MPC_SECRET_STORE_KEY).toMatch(/^[0-9A-F]{32}$/);
  });

  test('deployment: how far the contract setup got, node accounts, per-secret shapes, the manifest suffix', () => {
    expect(resolveScenario('healthy').deployment).toEqual({ contract: 'initialised', nodes: {} });
    expect(resolveScenario('contract-not-initialised').deployment.contract).toBe('not-initialised');
    expect(resolveScenario('no-domain').deployment.contract).toBe('no-domains');
    expect(resolveScenario('contract-missing').deployment.contract).toBe('no-code');
    const methods = resolveScenario('fc-key-wrong-methods').deployment.nodes['1']!.functionCallKey!.methodNames!;
    expect(methods).toContain('vote_pk');
    expect(methods).not.toContain('submit_participant_info');
    expect(resolveScenario('fc-key-allowance-exhausted').deployment.nodes['2']!.functionCallKey).toEqual({
      allowance: '20000000000000000000000',
    });
    expect(resolveScenario('node-account-broke').deployment.nodes['0']!.balance).toBe('10000000000000000000000');

    const noPrefix = resolveScenario('secret-without-prefix').nodeList;
    expect(noPrefix[1]!.secretShapes).toEqual({ account: 'no-prefix', p2p: 'plain' });
    expect(noPrefix[0]!.secretShapes).toEqual({ account: 'plain', p2p: 'plain' });
    const k = scenarioKey('s', 'account', 1, 'A').secretKey;
    expect(shapeSecretValue(k, 'no-prefix')).toBe(k.slice('ed25519:'.length));
    // the leak scans look for the bare body too: it is what Secrets Manager holds
    const scenario = resolveScenario('secret-without-prefix');
    const body = scenario.nodeList[1]!.account.secretsManager!.secretKey.slice('ed25519:'.length);
    expect(scenarioSecrets(scenario)).toContain(body);
    expect(
      scenarioSecrets(resolveScenario('healthy')).every((v) => v.startsWith('ed25519:') || /^[0-9A-F]{32}$/.test(v)),
    ).toBe(true);

    const drift = resolveScenario('manifest-suffix-drift');
    expect(drift.nodeList.map((n) => n.accountId)).toEqual([
      'mpc-node-0.localnet',
      'mpc-node-1.localnet',
      'mpc-node-2.localnet',
    ]);
    expect(Object.values(manifestFor(drift)).map((e) => e.MPC_ACCOUNT_ID)).toEqual([
      'mpc-node-0.node0',
      'mpc-node-1.node0',
      'mpc-node-2.node0',
    ]);

    const p2p = resolveScenario('p2p-secret-mismatch').nodeList[2]!;
    expect(p2p.p2p.manifest!.publicKey).toBe(p2p.p2p.chain!.publicKey);
    expect(p2p.p2p.secretsManager!.publicKey).not.toBe(p2p.p2p.chain!.publicKey);
    expect(p2p.p2p.node!.publicKey).toBe(p2p.p2p.secretsManager!.publicKey);
    expect(p2p.account.node!.publicKey).toBe(p2p.account.chain!.publicKey);
  });

  test('a contract whose setup stopped before domains cannot be a Running scenario', () => {
    const base = { name: 'x', description: '', reproduces: '', keys: resolveScenario('healthy').keys };
    expect(() =>
      resolveScenario({ ...base, contract: 'running', deployment: { contract: 'no-domains' } } as never),
    ).toThrow(/never runs/);
  });

  test("the network defaults to the user's deployment: URLs on :8080, no port_override, the CDK's rules", () => {
    const s = resolveScenario('p2p-port-collision');
    expect(s.network).toEqual({
      participantPort: 8080,
      mpcIngress: CDK_MPC_INGRESS,
      nearBaseRedeployedSinceMpcDeploy: false,
    });
    expect(s.nodeList.every((n) => Object.keys(n.faults).length === 0)).toBe(true);
  });

  test('the scenarios that must not collide say how they avoid it', () => {
    // Every scenario but the two that reproduce the user's P2P port collision on :8080.
    const colliding = ['p2p-port-collision', 'incident-as-deployed'];
    for (const name of listScenarios().filter((n) => !colliding.includes(n))) {
      const s = resolveScenario(name);
      const p2pPort = s.network.portOverride ?? s.network.participantPort;
      expect(p2pPort, name).not.toBe(8080);
      expect(s.network.mpcIngress, name).toContainEqual(expect.objectContaining({ port: p2pPort, from: 'mpc' }));
      expect(s.description, name).toMatch(s.network.portOverride ? /port_override/ : /:3000/);
    }
    for (const name of colliding) expect(resolveScenario(name).network.participantPort, name).toBe(8080);
  });

  test('node faults are per node', () => {
    expect(resolveScenario('one-node-down').nodeList.map((n) => n.faults)).toEqual([{}, {}, { container: 'stopped' }]);
    expect(resolveScenario('node-not-attested').nodeList[1]!.faults).toEqual({ attestation: 'missing' });
    expect(resolveScenario('indexer-behind').nodeList[2]!.faults.indexerLagBlocks).toBeGreaterThan(30);
    expect(resolveScenario('base-ip-changed').network.nearBaseRedeployedSinceMpcDeploy).toBe(true);
  });
});
