/**
 * Scenarios where keys are right and the P2P port is free, yet the Layer 3 does not work: the NEAR
 * base moved (`base-ip-changed`), a node without an attestation (`node-not-attested`), a stopped
 * container (`one-node-down`), an indexer that lags (`indexer-behind`) — each seen as the runbook
 * can see it.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { useTwin } from '../twin-fixture.ts';
import type { Twin } from '../../twin/start.ts';
import { contractState, count, metric, nearBaseHealth, nodeLogs, rpcView, sh, stateName } from './network-support.ts';

const BLOCK_MS = 100;
const TIMEOUT_BLOCKS = 5;
const start = (scenario: string) => useTwin(scenario, { blockTimeMs: BLOCK_MS, keyEventTimeoutBlocks: TIMEOUT_BLOCKS });

describe('base-ip-changed', () => {
  const started = start('base-ip-changed');
  let twin: Twin;
  beforeAll(() => {
    twin = started();
  });

  test('Running; every probe from the NEAR base times out while each node answers on its own instance', async () => {
    expect(stateName(twin)).toBe('Running');
    expect(twin.network.nearBaseAddressInRules).not.toBe(twin.nearBase.privateIp);
    const base8080 = twin.network
      .securityGroups()
      .mpc!.filter((r) => r.port === 8080 && 'cidr' in r.source)
      .map((r) => ('cidr' in r.source ? r.source.cidr : ''));
    expect(base8080).toEqual([`${twin.network.nearBaseAddressInRules}/32`]);
    for (const n of twin.nodes) {
      const probe = await nearBaseHealth(twin, n.index, 1);
      expect(probe).toMatchObject({ httpCode: '000', exit: 28 });
      expect(probe.stderr).toMatch(/curl: \(28\) Connection timed out after \d+ milliseconds/);
      const own = await sh(twin, n.instanceId, [
        `curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://${n.privateIp}:8080/health`,
      ]);
      expect(own.stdout).toBe('200');
      const logs = await nodeLogs(twin, n.index);
      expect(logs).not.toContain('AccessKeyNotFound');
      expect(logs).not.toContain('TCP bind');
    }
  });
});

describe('node-not-attested', () => {
  const started = start('node-not-attested');
  let twin: Twin;
  beforeAll(() => {
    twin = started();
  });

  test('node 1 retries its attestation forever (Attached 0, Required …); no one connects to it', async () => {
    const signPk = twin.scenario.nodeList[1]!.p2p.chain!.publicKey;
    const failures = async () =>
      (await nodeLogs(twin, 1)).split('\n').filter((l) => l.includes('failed to submit attestation'));
    await expect.poll(async () => (await failures()).length, { timeout: 120_000 }).toBeGreaterThanOrEqual(3);
    for (const line of await failures()) expect(line).toMatch(/Smart contract panicked: Attached 0, Required \d+/);
    expect(await nodeLogs(twin, 1)).not.toContain('[Initializing] Starting');
    expect(await rpcView(twin, 'get_attestation', { tls_public_key: signPk })).toBeNull();
    const others = twin.scenario.nodeList.filter((n) => n.index !== 1);
    for (const n of others)
      expect(await rpcView(twin, 'get_attestation', { tls_public_key: n.p2p.chain!.publicKey })).toEqual({
        Mock: 'Valid',
      });
    for (const n of others)
      await expect
        .poll(async () => nodeLogs(twin, n.index), { timeout: 60_000 })
        .toContain(`Could not connect to 1, retrying: TCP connect, me ${n.index}`);
    expect((await nodeLogs(twin, 0)).includes('starting key generation')).toBe(false);
    expect(contractState(twin).Initializing.generating_key.instance).toBeNull();
    const tee = (await rpcView(twin, 'get_tee_accounts', {})) as { tls_public_key: string }[];
    expect(tee.map((t) => t.tls_public_key)).not.toContain(signPk);
  });
});

describe('one-node-down', () => {
  const started = start('one-node-down');
  let twin: Twin;
  beforeAll(() => {
    twin = started();
  });

  test('node 2 is exited and stays so; the others wait for it; docker start brings Running', async () => {
    const down = twin.nodes[2]!;
    const st = await sh(twin, down.instanceId, ["docker inspect --format '{{.State.Status}}' mpc-node"]);
    expect(st.stdout.trim()).toBe('exited');
    for (const n of twin.nodes.slice(0, 2))
      await expect
        .poll(async () => count(await nodeLogs(twin, n.index), 'Could not connect to 2, retrying: TCP connect'), {
          timeout: 120_000,
        })
        .toBeGreaterThanOrEqual(3);
    expect(await nodeLogs(twin, 0)).not.toContain('starting key generation');
    expect(contractState(twin).Initializing.generating_key.instance).toBeNull();
    expect(await metric(twin, 0, 'mpc_network_live_connections{my_participant_id="0",peer_participant_id="2"}')).toBe(
      0,
    );
    expect(await nearBaseHealth(twin, 2, 1)).toMatchObject({ httpCode: '000', exit: 7 }); // refused: nothing listens
    expect(
      (await sh(twin, down.instanceId, ["docker inspect --format '{{.State.Status}}' mpc-node"])).stdout.trim(),
    ).toBe('exited'); // --restart=always does not bring back a container stopped by hand

    const started = await sh(twin, down.instanceId, ['docker start mpc-node']);
    expect(started.exitCode, started.stderr).toBe(0);
    await expect.poll(() => stateName(twin), { timeout: 120_000, interval: 100 }).toBe('Running');
  });
});

describe('indexer-behind', () => {
  const started = start('indexer-behind');
  let twin: Twin;
  beforeAll(() => {
    twin = started();
  });

  test("node 2's chain view trails the head by 60 blocks; its votes come too late; Initializing", async () => {
    const lag = twin.scenario.nodeList[2]!.faults.indexerLagBlocks!;
    expect(lag).toBeGreaterThan(TIMEOUT_BLOCKS);
    // Node 2 votes for an attempt that has already expired (or been replaced).
    await expect
      .poll(async () => nodeLogs(twin, 2), { timeout: 180_000, interval: 200 })
      .toMatch(/\[Initializing\] failed: .*Smart contract panicked: (Expected ongoing reshare|Key event Id mismatch)/);
    const before = twin.chain.head.height;
    const seen = (await metric(twin, 2, 'mpc_indexer_latest_block_height'))!;
    const ahead = (await metric(twin, 0, 'mpc_indexer_latest_block_height'))!;
    const after = twin.chain.head.height;
    expect(seen).toBeLessThanOrEqual(after - lag);
    expect(seen).toBeGreaterThan(before - lag - 30); // it follows the chain, 60 blocks behind
    expect(ahead).toBeGreaterThan(before - 30);
    const ev = contractState(twin).Initializing.generating_key;
    expect(ev.next_attempt_id).toBeGreaterThan(1); // the leader keeps starting attempts
    expect(ev.instance?.completed ?? []).not.toContain(2);
    expect(stateName(twin)).toBe('Initializing');
  });
});
