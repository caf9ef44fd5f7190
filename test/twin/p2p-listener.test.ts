/**
 * The node's P2P listener is not its web UI: it binds the port of its own participant URL (or
 * config.yaml `indexer.port_override`). Participant URLs on the web UI's port — the user's
 * deployment — keep every node out of keygen with the real node's words; a port_override avoids it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nearLayer3 } from './near-layer3.ts';

const BLOCK_MS = 80;
const TIMEOUT_BLOCKS = 5;
const log = (node: { output: string[] }) => node.output.join('');

describe('participant URLs on the web UI port (the user deployment)', () => {
  let l3: Awaited<ReturnType<typeof nearLayer3>>;
  beforeAll(async () => {
    l3 = await nearLayer3('healthy', { blockTimeMs: BLOCK_MS, keyEventTimeoutBlocks: TIMEOUT_BLOCKS, p2pPort: 'web' });
    for (const n of l3.scenario.nodeList) {
      l3.writeHome(n.index, n.account.chain!.secretKey);
      l3.startNode(n.index);
    }
  });
  afterAll(async () => l3?.stop());

  test('every node attests, then fails its Initializing job on TCP bind and retries; no attempt starts', async () => {
    const binds = (node: { output: string[] }) => log(node).split('[Initializing] failed: TCP bind').length - 1;
    // Each node retries the job: wait for its second failure, never for chain time.
    await expect.poll(() => l3.nodes.every((n) => binds(n) >= 2), { timeout: 120_000, interval: 100 }).toBe(true);
    for (const node of l3.nodes) {
      const text = log(node);
      expect(text).toContain('successfully submitted attestation');
      expect(text).toContain('[Initializing] Starting');
      expect(text).toMatch(
        /\[Initializing\] failed: TCP bind\n\nCaused by:\n {4}Address already in use \(os error 98\)/,
      );
      expect(text).not.toContain('AccessKeyNotFound');
      expect(text).not.toContain('starting key generation');
      expect(node.proc.exitCode).toBeNull(); // it never crashes for it
    }
    const ev = l3.state()!.Initializing.generating_key;
    expect(ev.instance).toBeNull();
    expect(ev.next_attempt_id).toBe(0);
    // The web UI keeps the port and answers.
    const node = l3.nodes[0]!;
    expect(await (await fetch(`http://${node.ip}:${l3.port}/health`)).text()).toBe('OK');
    const metrics = await (await fetch(`http://${node.ip}:${l3.port}/metrics`)).text();
    expect(metrics).toContain('mpc_current_job_state{state="Initializing"} 1');
    expect(metrics).not.toMatch(/mpc_network_live_connections\{[^}]*\} 1/);
  });
});

describe('the same URLs with indexer.port_override in config.yaml', () => {
  let l3: Awaited<ReturnType<typeof nearLayer3>>;
  beforeAll(async () => {
    l3 = await nearLayer3('healthy', { blockTimeMs: BLOCK_MS, keyEventTimeoutBlocks: TIMEOUT_BLOCKS, p2pPort: 'web' });
    const override = l3.port === 60000 ? l3.port - 2 : l3.port + 2;
    for (const n of l3.scenario.nodeList) {
      l3.writeHome(n.index, n.account.chain!.secretKey, { portOverride: override });
      l3.startNode(n.index);
    }
  });
  afterAll(async () => l3?.stop());

  test('the listener binds the override port, the mesh connects, and keygen reaches Running', async () => {
    await expect.poll(() => Object.keys(l3.state() ?? {}), { timeout: 300_000, interval: 100 }).toEqual(['Running']);
    for (const node of l3.nodes) {
      const text = log(node);
      expect(text).not.toContain('TCP bind');
      for (const peer of l3.nodes.filter((p) => p !== node))
        expect(text).toContain(`Outgoing ${node.index} --> ${peer.index} connected`);
    }
    // The Running job builds its own mesh; its connections come up again.
    const live = async () => {
      const metrics = await (await fetch(`http://${l3.nodes[1]!.ip}:${l3.port}/metrics`)).text();
      expect(metrics).not.toContain('peer_participant_id="1"'); // no connection to itself
      return [0, 2].map((p) =>
        metrics.includes(`mpc_network_live_connections{my_participant_id="1",peer_participant_id="${p}"} 1`),
      );
    };
    await expect.poll(live, { timeout: 60_000, interval: 100 }).toEqual([true, true]);
  });
});
