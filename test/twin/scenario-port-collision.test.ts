/**
 * The user's network as deployed: participant URLs on :8080, the web UI's own port. Scenarios
 * `p2p-port-collision` (keys right) and `incident-as-deployed` (the key incident on top), seen as
 * the runbook can see them: contract state over RPC, docker logs and container state, /metrics,
 * config.yaml on the instance, and the NEAR base's probe.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { useTwin } from '../twin-fixture.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Twin } from '../../twin/start.ts';
import { contractState, count, metric, nearBaseHealth, nodeLogs, rpcView, sh } from './network-support.ts';

const BLOCK_MS = 100;
const TCP_BIND = /\[Initializing\] failed: TCP bind\n\nCaused by:\n {4}Address already in use \(os error 98\)/;

describe('p2p-port-collision', () => {
  const started = useTwin('p2p-port-collision', { blockTimeMs: BLOCK_MS, keyEventTimeoutBlocks: 5 });
  let twin: Twin;
  beforeAll(() => {
    twin = started();
  });

  test('every node logs the TCP bind failure again and again; no attempt; no AccessKeyNotFound', async () => {
    for (const n of twin.nodes)
      await expect
        .poll(async () => count(await nodeLogs(twin, n.index), '[Initializing] failed: TCP bind'), { timeout: 120_000 })
        .toBeGreaterThanOrEqual(3);
    const state = contractState(twin);
    expect(Object.keys(state)).toEqual(['Initializing']);
    expect(state.Initializing.generating_key.instance).toBeNull();
    expect(state.Initializing.generating_key.next_attempt_id).toBe(0);
    for (const [, , info] of state.Initializing.generating_key.parameters.participants.participants)
      expect(info.url).toMatch(/^http:\/\/127\.\d+\.\d+\.\d+:8080$/);
    for (const n of twin.nodes) {
      const logs = await nodeLogs(twin, n.index);
      expect(logs).toMatch(TCP_BIND);
      expect(logs).toContain('successfully submitted attestation');
      expect(logs).not.toContain('AccessKeyNotFound');
      expect(logs).not.toContain('Could not connect');
      // The node keeps running (restart count 0) and its web UI keeps the port.
      const st = await sh(twin, n.instanceId, [
        "docker inspect --format '{{.State.Status}} {{.RestartCount}}' mpc-node",
        'grep -A2 "^web_ui:" "$MPC_DATA_DIR/config.yaml" | tail -1',
        'grep -c port_override "$MPC_DATA_DIR/config.yaml" || true',
      ]);
      expect(st.stdout).toBe('running 0\n  port: 8080\n0\n');
      expect(await metric(twin, n.index, 'mpc_current_job_state{state="Initializing"}')).toBe(1);
      expect(await nearBaseHealth(twin, n.index)).toMatchObject({ httpCode: '200', exit: 0 });
      const att = await rpcView(twin, 'get_attestation', {
        tls_public_key: twin.scenario.nodeList[n.index]!.p2p.chain!.publicKey,
      });
      expect(att).toEqual({ Mock: 'Valid' });
    }
  });
});

describe('incident-as-deployed', () => {
  const started = useTwin('incident-as-deployed', { blockTimeMs: BLOCK_MS, keyEventTimeoutBlocks: 5 });
  let twin: Twin;
  beforeAll(() => {
    twin = started();
  });

  test('AccessKeyNotFound first; after the key repair the nodes attest, then fail on TCP bind', async () => {
    for (const n of twin.nodes)
      await expect
        .poll(async () => count(await nodeLogs(twin, n.index), 'AccessKeyNotFound'), { timeout: 120_000 })
        .toBeGreaterThan(0);
    for (const n of twin.nodes) expect(await nodeLogs(twin, n.index)).not.toContain('TCP bind');

    // The repair the runbook makes: Secrets Manager from the manifest, secrets.json from it, restart.
    const manifest = JSON.parse(readFileSync(twin.manifestPath, 'utf8')) as Record<string, Record<string, string>>;
    for (const n of twin.nodes) {
      twin.aws.secrets.put(`mpc-node-${n.index}-mpc_account_sk`, manifest[`node-${n.index}`]!.MPC_ACCOUNT_SK!);
      const r = await sh(twin, n.instanceId, [
        'set -eu',
        `SK=$(aws secretsmanager get-secret-value --secret-id mpc-node-${n.index}-mpc_account_sk \\`,
        '  --query SecretString --output text)',
        'D="$MPC_DATA_DIR"',
        'jq --arg sk "$SK" \'.near_signer_key = $sk | .near_responder_keys = [$sk]\' "$D/secrets.json" > "$D/s.tmp"',
        'mv "$D/s.tmp" "$D/secrets.json"',
        'docker restart mpc-node >/dev/null',
      ]);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    for (const n of twin.nodes)
      await expect.poll(async () => nodeLogs(twin, n.index), { timeout: 120_000 }).toMatch(TCP_BIND);
    for (const n of twin.nodes) {
      const since = (await nodeLogs(twin, n.index)).split('successfully submitted attestation')[1] ?? '';
      expect(since).not.toContain('AccessKeyNotFound');
      expect(since).toContain('[Initializing] Starting');
    }
    const state = contractState(twin);
    expect(Object.keys(state)).toEqual(['Initializing']);
    expect(state.Initializing.generating_key.instance).toBeNull();
    expect(readFileSync(join(twin.nodes[0]!.dataDir, 'config.yaml'), 'utf8')).not.toContain('port_override');
  });
});
