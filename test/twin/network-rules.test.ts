/**
 * Security-group rules decide who reaches which port of an MPC instance: a connection they forbid is
 * a dropped SYN (curl exit 28, a timeout — never a refusal), an allowed connection to a closed port
 * is refused (exit 7), an instance always reaches itself. The NEAR base's probes, the node's own
 * P2P dials and any command run on a node are held to the same rules.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { useTwin } from '../twin-fixture.ts';
import { loadScenario } from '../../twin/scenario.ts';
import type { Twin } from '../../twin/start.ts';
import type { IngressRule } from '../../twin/instances/fleet.ts';
import { contractState, count, metric, nearBaseHealth, nodeLogs, probe, sh, stateName } from './network-support.ts';

const BLOCK_MS = 100;

describe('the NEAR base probe and commands on a node, under the rules', () => {
  const started = useTwin('healthy', { blockTimeMs: BLOCK_MS, keyEventTimeoutBlocks: 5 });
  let twin: Twin;
  let rules: IngressRule[];
  beforeAll(() => {
    twin = started();
    rules = twin.network.securityGroups().mpc!;
  });

  test('the rules are the scenario data: the CDK rules with the NEAR base /32, plus 3000 between MPC nodes', () => {
    const base = `${twin.nearBase.privateIp}/32`;
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ port: 8080, source: { cidr: base } }),
        expect.objectContaining({ port: 24567, source: { cidr: base } }),
        expect.objectContaining({ port: 8080, source: { securityGroup: 'mpc' } }),
        expect.objectContaining({ port: 3030, source: { securityGroup: 'mpc' } }),
        expect.objectContaining({ port: 3000, source: { securityGroup: 'mpc' } }),
      ]),
    );
    expect(twin.nodes.map((n) => n.participantUrl)).toEqual(twin.nodes.map((n) => `http://${n.privateIp}:3000`));
  });

  test('NEAR base probe: allowed reads /health; forbidden times out (exit 28); the node answers itself', async () => {
    expect(await nearBaseHealth(twin, 0)).toMatchObject({ httpCode: '200', exit: 0 });
    twin.fleet.setIngress(
      'mpc',
      rules.filter((r) => !('cidr' in r.source && r.port === 8080)),
    );
    try {
      const blocked = await nearBaseHealth(twin, 0, 1);
      expect(blocked).toMatchObject({ httpCode: '000', exit: 28 });
      expect(blocked.stderr).toMatch(/^curl: \(28\) Connection timed out after \d+ milliseconds$/m);
      const node = twin.nodes[0]!;
      const self = await sh(twin, node.instanceId, [
        `curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://${node.privateIp}:8080/health`,
      ]);
      expect(self.stdout).toBe('200');
      // Another MPC instance is still admitted on 8080 (the security group itself).
      const peer = await sh(twin, twin.nodes[1]!.instanceId, [
        `curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://${node.privateIp}:8080/health`,
      ]);
      expect(peer.stdout).toBe('200');
    } finally {
      twin.fleet.setIngress('mpc', rules);
    }
    expect(await nearBaseHealth(twin, 0)).toMatchObject({ httpCode: '200', exit: 0 });
  });

  test("from a node: a peer's P2P port connects, a closed allowed port refuses, no rule times out", async () => {
    const from = twin.nodes[0]!.instanceId;
    const peer = twin.nodes[1]!.privateIp;
    const p2p = await probe(twin, from, peer, 3000);
    expect(p2p.timeConnect).toBeGreaterThan(0);
    expect(p2p.exit).toBe(52); // connected; the P2P listener does not speak HTTP
    const closed = await probe(twin, from, peer, 3030); // 3030 is open between MPC nodes; nothing listens
    expect(closed).toMatchObject({ timeConnect: 0, exit: 7 });
    const noRule = await probe(twin, from, peer, 9999, 1);
    expect(noRule).toMatchObject({ timeConnect: 0, exit: 28 });
    // The NEAR base has no rule for the P2P port either.
    expect(await probe(twin, twin.nearBase.instanceId, peer, 3000, 1)).toMatchObject({ exit: 28 });
  });

  test('the curl stand-in keeps curl semantics: verbose, --retry with its warnings, a write-out file', async () => {
    const r = await sh(twin, twin.nodes[0]!.instanceId, [
      `printf '%%{http_code} %%{exitcode} %%{errormsg}\\n' > wo.txt`,
      `curl -v --connect-timeout 0.3 --retry 1 --retry-delay 1 -w @wo.txt http://${twin.nodes[1]!.privateIp}:9999/`,
      'echo "exit=$?"',
    ]);
    expect(r.stdout).toMatch(/^000 28 Connection timed out after \d+ milliseconds\nexit=28\n$/);
    expect(r.stderr).toContain(`*   Trying ${twin.nodes[1]!.privateIp}:9999...`);
    expect(r.stderr).toContain('Warning: Problem : timeout. Will retry in 1 seconds. 1 retries left.');
    expect(count(r.stderr, 'curl: (28) Connection timed out after')).toBe(1);
  });

  test("a dropped probe answers the same from the stand-in's bash path as from the faithful stand-in", async () => {
    const url = `http://${twin.nodes[1]!.privateIp}:9999/`;
    const form = `curl -sS -o /dev/null --connect-timeout 0.2 --max-time 5 -w '%{http_code} %{time_connect} %{url}'`;
    // --no-progress-meter changes nothing here, and is no form the bash path takes: curl.ts answers.
    const [bash, node] = await Promise.all(
      ['', ' --no-progress-meter'].map((extra) =>
        sh(twin, twin.nodes[0]!.instanceId, [`${form}${extra} ${url}`, 'echo " exit=$?"']),
      ),
    );
    const timeless = (t: string) => t.replace(/\d+ milliseconds/, 'N milliseconds');
    expect(bash!.stdout).toBe(`000 0.000000 ${url} exit=28\n`);
    expect([bash!.stdout, timeless(bash!.stderr)]).toEqual([node!.stdout, timeless(node!.stderr)]);
    expect(timeless(bash!.stderr)).toBe('curl: (28) Connection timed out after N milliseconds\n');
  });

  test('curl --parallel: a dropped transfer times out alone, the allowed ones answer beside it', async () => {
    const [a, b] = [twin.nodes[0]!.privateIp, twin.nodes[1]!.privateIp];
    const r = await sh(twin, twin.nearBase.instanceId, [
      'd=$(mktemp -d)',
      'curl -s --no-progress-meter --parallel --parallel-immediate --parallel-max 3 --max-time 1 \\',
      '  -w "W %{filename_effective} %{http_code} %{exitcode}\\n" \\',
      `  -o "$d/h" http://${a}:8080/health -o "$d/x" http://${b}:9999/ -o "$d/p" http://${b}:8080/public_data`,
      'echo "exit=$?"; ls "$d"; rm -rf "$d"',
    ]);
    const lines = r.stdout.split('\n').map((l) => l.replace(/\/tmp\/[^/]+\//, ''));
    expect(lines).toEqual(expect.arrayContaining(['W h 200 0', 'W x 000 28', 'W p 200 0', 'exit=28']));
    expect(lines.filter((l) => l.startsWith('W '))).toHaveLength(3);
    expect(lines.slice(-3, -1).sort()).toEqual(['h', 'p']); // a dropped transfer writes no file
    expect(r.stderr).toBe('');
  });

  test('curl asks the fleet in bash alone: the answer has its length, so no `cat` runs to read it', async () => {
    const node = twin.nodes[1]!;
    const r = await sh(twin, node.instanceId, [
      'spy=$(mktemp -d)',
      // A `cat` first on PATH that leaves a mark: the question to the fleet is the only thing that could run it.
      'printf \'#!/bin/sh\\necho ran >> "$0.ran"\\nexec /bin/cat "$@"\\n\' > "$spy/cat"; chmod +x "$spy/cat"',
      `PATH="$spy:$PATH" curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://${node.privateIp}:8080/health`,
      'echo " cat=$(wc -l < "$spy/cat.ran" 2>/dev/null || echo 0)"; rm -rf "$spy"',
    ]);
    expect(r.stdout).toBe('200 cat=0\n');
  });
});

describe('node-to-node P2P blocked by the rules', () => {
  // Participant URLs on :3000 as in healthy, but only the CDK's rules: nothing opens 3000.
  const blocked = () => {
    const base = loadScenario('healthy');
    const mpcIngress = base.network.mpcIngress.filter((r) => r.port !== 3000);
    return {
      ...base,
      name: 'p2p-blocked',
      contract: 'initializing' as const,
      network: { ...base.network, mpcIngress },
    };
  };
  const started = useTwin(blocked, { blockTimeMs: BLOCK_MS, keyEventTimeoutBlocks: 5 });
  let twin: Twin;
  beforeAll(() => {
    twin = started();
  });

  test('every dial times out, the leader never starts keygen; opening 3000 lets it reach Running', async () => {
    const failures = async (i: number) => {
      const text = await nodeLogs(twin, i);
      return twin.nodes.filter((p) => p.index !== i && text.includes(`Could not connect to ${p.index}, retrying: `));
    };
    // Each node has failed to reach each of its peers at least once.
    for (const n of twin.nodes)
      await expect.poll(async () => (await failures(n.index)).length, { timeout: 120_000 }).toBe(2);
    const leaderLog = await nodeLogs(twin, 0);
    expect(leaderLog).toContain('Could not connect to 1, retrying: TCP connect, me 0');
    expect(leaderLog).not.toContain('starting key generation');
    expect(leaderLog).not.toMatch(/Outgoing 0 --> \d connected/);
    expect(contractState(twin).Initializing.generating_key.instance).toBeNull();
    expect(await metric(twin, 0, 'mpc_network_live_connections{my_participant_id="0",peer_participant_id="1"}')).toBe(
      0,
    );
    expect(await probe(twin, twin.nodes[0]!.instanceId, twin.nodes[1]!.privateIp, 3000, 1)).toMatchObject({
      exit: 28,
    });

    twin.fleet.setIngress('mpc', [
      ...twin.network.securityGroups().mpc!,
      { protocol: 'tcp', port: 3000, source: { securityGroup: 'mpc' } },
    ]);
    await expect.poll(() => stateName(twin), { timeout: 120_000, interval: 100 }).toBe('Running');
  });
});
