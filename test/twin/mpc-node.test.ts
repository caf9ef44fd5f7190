import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nearLayer3 } from './support.ts';

const BLOCK_MS = 80;
const TIMEOUT_BLOCKS = 5;

describe('MPC node processes on the NEAR twin', () => {
  let l3: Awaited<ReturnType<typeof nearLayer3>>;
  beforeAll(async () => {
    l3 = await nearLayer3('incident-key-mismatch', { blockTimeMs: BLOCK_MS, keyEventTimeoutBlocks: TIMEOUT_BLOCKS });
    for (const n of l3.scenario.nodeList) {
      l3.writeHome(n.index, n.account.node!.secretKey); // the incident: every node signs with a key its account does not hold
      l3.startNode(n.index);
    }
  });
  afterAll(async () => l3?.stop());

  test('with keys that are not on their accounts, nobody votes: Initializing through three key-event timeouts, AccessKeyNotFound in every log', async () => {
    const start = l3.chain.head.height;
    await l3.waitFor(() => l3.chain.head.height >= start + 3 * TIMEOUT_BLOCKS + 1, 30_000, 'three key-event timeouts');
    expect(Object.keys(l3.state()!)).toEqual(['Initializing']);
    for (const node of l3.nodes) {
      const log = node.output.join('');
      expect(log, node.accountId).toContain(`InvalidAccessKeyError(AccessKeyNotFound { account_id: ${node.accountId}, public_key: `);
      expect(log).toContain('failed to submit attestation');
      expect(log).not.toContain(l3.scenario.nodeList[node.index]!.account.node!.secretKey); // never a secret in a log
      if (process.env.SHOW_NODE_LOG) console.log(log.split("\n").slice(0, 12).join("\n"));
    }
  });

  test('after each node gets its on-chain key in secrets.json and restarts, keygen completes and the contract is Running', async () => {
    for (const n of l3.scenario.nodeList) {
      await l3.stopNode(n.index);
      l3.writeHome(n.index, n.account.chain!.secretKey);
      l3.startNode(n.index);
    }
    await l3.waitFor(() => 'Running' in (l3.state() ?? {}), 60_000, 'Running');
    const running = l3.state()!.Running;
    expect(running.keyset.domains).toHaveLength(1);
    expect(running.keyset.domains[0].key.Secp256k1.near_public_key).toMatch(/^secp256k1:/);
    const pd = (await (await fetch(`http://${l3.nodes[0]!.ip}:${l3.port}/public_data`)).json()) as { near_signer_public_key: string };
    expect(pd.near_signer_public_key).toBe(l3.scenario.nodeList[0]!.account.chain!.publicKey);
  });
});
