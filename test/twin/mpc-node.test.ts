import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nearLayer3 } from './near-layer3.ts';

const BLOCK_MS = 80;
const TIMEOUT_BLOCKS = 5;

describe('MPC node processes on the NEAR twin', () => {
  let l3: Awaited<ReturnType<typeof nearLayer3>>;
  beforeAll(async () => {
    l3 = await nearLayer3('incident-key-mismatch', { blockTimeMs: BLOCK_MS, keyEventTimeoutBlocks: TIMEOUT_BLOCKS });
    for (const n of l3.scenario.nodeList) {
      // the incident: every node signs with a key its account does not hold
      l3.writeHome(n.index, n.account.node!.secretKey);
      l3.startNode(n.index);
    }
  });
  afterAll(async () => l3?.stop());

  test(
    'with keys that are not on their accounts, nobody votes: Initializing through three key-event ' +
      'timeouts, AccessKeyNotFound in every log',
    async () => {
      const notFound = (node: (typeof l3.nodes)[number]) =>
        node.output
          .join('')
          .split(`InvalidAccessKeyError(AccessKeyNotFound { account_id: ${node.accountId}, public_key: `).length - 1;
      // Wait for what is checked (each node's own failure), never for chain time alone: a busy machine
      // can let blocks pass before the node processes have printed anything.
      await expect
        .poll(() => l3.nodes.map(notFound).every((n) => n > 0), { timeout: 120_000, interval: 100 })
        .toBe(true);
      const before = l3.nodes.map(notFound);
      const start = l3.chain.head.height;
      await expect
        .poll(() => l3.chain.head.height >= start + 3 * TIMEOUT_BLOCKS + 1, { timeout: 120_000, interval: 50 })
        .toBe(true);
      // …and the nodes kept trying (and failing) through that window.
      await expect
        .poll(() => l3.nodes.every((n, i) => notFound(n) > before[i]!), { timeout: 120_000, interval: 100 })
        .toBe(true);
      expect(Object.keys(l3.state()!)).toEqual(['Initializing']);
      expect(l3.state()!.Initializing.generating_key.instance?.completed ?? []).toEqual([]);
      for (const node of l3.nodes) {
        const log = node.output.join('');
        expect(log).toContain('failed to submit attestation');
        expect(log).not.toContain(l3.scenario.nodeList[node.index]!.account.node!.secretKey); // never a secret in a log
      }
    },
  );

  test(
    'after each node gets its on-chain key in secrets.json and restarts, keygen completes and the ' +
      'contract is Running',
    async () => {
      for (const n of l3.scenario.nodeList) {
        await l3.stopNode(n.index);
        l3.writeHome(n.index, n.account.chain!.secretKey);
        l3.startNode(n.index);
      }
      await expect.poll(() => Object.keys(l3.state() ?? {}), { timeout: 300_000, interval: 100 }).toEqual(['Running']);
      const running = l3.state()!.Running;
      expect(running.keyset.domains).toHaveLength(1);
      expect(running.keyset.domains[0].key.Secp256k1.near_public_key).toMatch(/^secp256k1:/);
      const pd = (await (await fetch(`http://${l3.nodes[0]!.ip}:${l3.port}/public_data`)).json()) as {
        near_signer_public_key: string;
      };
      expect(pd.near_signer_public_key).toBe(l3.scenario.nodeList[0]!.account.chain!.publicKey);
    },
  );
});
