/**
 * Failure modes of secrets and the manifest (issue 14), each on the whole twin: an account secret without
 * its `ed25519:` prefix, a p2p secret that is not the participant's sign_pk, a manifest whose account ids
 * drifted to `.node0`. Seen through the AWS SDK, the nodes' endpoints and logs, near-api-js and the bootstrap.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { useTwin } from '../twin-fixture.ts';
import { ed25519 } from '@noble/curves/ed25519.js';
import { base58 } from '@scure/base';
import { AccountDoesNotExistError } from 'near-api-js/rpc-errors';
import { CONTRACT_ID, NODE_IMAGE, type Twin } from '../../twin/start.ts';
import {
  BLOCK_MS,
  logCount,
  nodeLog,
  providerOf,
  publicData,
  rejectionOf,
  secretValue,
  stateOf,
} from './failure-support.ts';

const POLL = { timeout: 120_000, interval: 100 };

describe('secret-without-prefix', () => {
  const started = useTwin('secret-without-prefix', { blockTimeMs: BLOCK_MS }); // Running when it starts
  let twin: Twin;
  beforeAll(() => {
    twin = started();
  });

  test('mpc-node-1-mpc_account_sk is the right key without "ed25519:"; other secrets keep it', async () => {
    const n = twin.scenario.nodeList[1]!;
    const value = await secretValue(twin, 'mpc-node-1-mpc_account_sk');
    expect(value.startsWith('ed25519:')).toBe(false);
    const bytes = base58.decode(value); // the body is intact: 64 bytes whose public half is the on-chain key
    expect(bytes.length).toBe(64);
    expect(`ed25519:${base58.encode(ed25519.getPublicKey(bytes.slice(0, 32)))}`).toBe(n.account.chain!.publicKey);
    expect(await secretValue(twin, 'mpc-node-1-mpc_p2p_private_key')).toMatch(/^ed25519:/);
    expect(await secretValue(twin, 'mpc-node-0-mpc_account_sk')).toMatch(/^ed25519:/);
  });

  test('the running node 1 is fine: it signs with its on-chain key from /data/secrets.json', async () => {
    const n = twin.scenario.nodeList[1]!;
    expect((await publicData(twin, 1)).near_signer_public_key).toBe(n.account.chain!.publicKey);
    const secrets = JSON.parse(readFileSync(join(twin.nodes[1]!.dataDir, 'secrets.json'), 'utf8'));
    expect(secrets.near_signer_key).toMatch(/^ed25519:/);
    expect(Object.keys(await stateOf(twin))).toEqual(['Running']);
    expect(nodeLog(twin, 1)).not.toContain('ProcessTxResponse');
  });

  test('the next bootstrap of node 1 refuses the secret before it writes or touches anything', async () => {
    const node = twin.nodes[1]!;
    const before = twin.fleet.container(node.instanceId, 'mpc-node');
    const secretsBefore = readFileSync(join(node.dataDir, 'secrets.json'), 'utf8');
    const r = await twin.fleet.bootstrap(node.instanceId, {
      NODE_INDEX: '1',
      REGION: 'us-east-1',
      MPC_CONTRACT_ID: CONTRACT_ID,
      MPC_ACCOUNT_ID: node.accountId,
      IMAGE: NODE_IMAGE,
      SECRET_POLL_SECONDS: '1',
      SECRET_POLL_COUNT: '3',
    });
    expect(r.exitCode).toBe(1);
    expect(r.output).toContain("ERROR: MPC_ACCOUNT_SK must start with 'ed25519:'");
    expect(r.output).not.toContain('Writing');
    expect(r.output).not.toContain(await secretValue(twin, 'mpc-node-1-mpc_account_sk'));
    expect(readFileSync(join(node.dataDir, 'secrets.json'), 'utf8')).toBe(secretsBefore);
    const after = twin.fleet.container(node.instanceId, 'mpc-node');
    expect(after?.State).toEqual(before?.State);
  });
});

describe('p2p-secret-mismatch', () => {
  const started = useTwin('p2p-secret-mismatch', { blockTimeMs: BLOCK_MS });
  let twin: Twin;
  beforeAll(() => {
    twin = started();
  });

  test("node 2's p2p key (Secrets Manager, /data, /public_data) is not its sign_pk; the manifest's is", async () => {
    const state = await stateOf(twin);
    const participants = state.Initializing.generating_key.parameters.participants.participants as [
      string,
      number,
      { sign_pk: string },
    ][];
    const signPk = participants.find((p) => p[0] === 'mpc-node-2.localnet')![2].sign_pk;
    const manifest = JSON.parse(readFileSync(twin.manifestPath, 'utf8'));
    expect(manifest['node-2'].MPC_P2P_PUBLIC_KEY).toBe(signPk);
    const pd = await publicData(twin, 2);
    expect(pd.near_p2p_public_key).not.toBe(signPk);
    const sm = await secretValue(twin, 'mpc-node-2-mpc_p2p_private_key');
    const smPublic = `ed25519:${base58.encode(base58.decode(sm.slice('ed25519:'.length)).slice(32))}`;
    expect(smPublic).toBe(pd.near_p2p_public_key);
    // the account key is right everywhere
    const n = twin.scenario.nodeList[2]!;
    expect(pd.near_signer_public_key).toBe(n.account.chain!.publicKey);
    expect(manifest['node-2'].MPC_ACCOUNT_PK).toBe(n.account.chain!.publicKey);
    for (const i of [0, 1]) {
      const sign = participants.find((p) => p[1] === i)![2].sign_pk;
      expect((await publicData(twin, i)).near_p2p_public_key).toBe(sign);
    }
  });

  test(
    'node 2 attests with a TLS key no attestation was stored for, so it must pay storage and ' +
      'cannot: it never takes part',
    async () => {
      // The contract asks a deposit of a signer whose TLS key had no attestation yet (mpc-facts §1.7);
      // the node attaches none, so node 2 (p2p key B, the participant's sign_pk is A) never attests.
      await expect
        .poll(
          () => [
            logCount(twin, 2, 'failed to submit attestation') > 0,
            ...[0, 1].map((i) => logCount(twin, i, 'successfully submitted attestation')),
          ],
          POLL,
        )
        .toEqual([true, 1, 1]);
      expect(nodeLog(twin, 2)).toMatch(/failed to submit attestation cause=.*Attached 0, Required \d+/);
      expect(logCount(twin, 2, 'successfully submitted attestation')).toBe(0);
      for (const n of twin.nodes) expect(nodeLog(twin, n.index)).not.toContain('ProcessTxResponse');
      const state = await stateOf(twin);
      expect(Object.keys(state)).toEqual(['Initializing']);
      expect(state.Initializing.generating_key.instance?.completed ?? []).not.toContain(2);
    },
  );
});

describe('manifest-suffix-drift', () => {
  const started = useTwin('manifest-suffix-drift', { blockTimeMs: BLOCK_MS }); // Running when it starts
  let twin: Twin;
  beforeAll(() => {
    twin = started();
  });

  test('the manifest says mpc-node-i.node0; the deployment and the chain say mpc-node-i.localnet', async () => {
    const manifest = JSON.parse(readFileSync(twin.manifestPath, 'utf8')) as Record<string, Record<string, string>>;
    const provider = providerOf(twin);
    for (const n of twin.nodes) {
      const entry = manifest[`node-${n.index}`]!;
      expect(entry.MPC_ACCOUNT_ID).toBe(`mpc-node-${n.index}.node0`);
      expect(n.accountId).toBe(`mpc-node-${n.index}.localnet`);
      const keys = await provider.viewAccessKeyList({ accountId: n.accountId });
      expect(keys.keys.map((k) => k.public_key)).toEqual([entry.MPC_ACCOUNT_PK]);
      const e = await rejectionOf(provider.viewAccount({ accountId: entry.MPC_ACCOUNT_ID! }));
      expect(e).toBeInstanceOf(AccountDoesNotExistError);
      expect((e as Error).message).toMatch(
        new RegExp(`^Account mpc-node-${n.index}\\.node0 does not exist at block height \\d+$`),
      );
      expect((await provider.viewAccessKeyList({ accountId: entry.MPC_ACCOUNT_ID! })).keys).toEqual([]);
    }
  });

  test('everything else is healthy: Running with a secp256k1 root key, no node logs a failed transaction', async () => {
    const state = await stateOf(twin);
    expect(state.Running.keyset.domains).toHaveLength(1);
    const root = await providerOf(twin).callFunction({ contractId: twin.contractId, method: 'public_key', args: {} });
    expect(root).toMatch(/^secp256k1:/);
    for (const n of twin.nodes) expect(nodeLog(twin, n.index)).not.toContain('ProcessTxResponse');
  });
});
