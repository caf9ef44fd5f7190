/**
 * Still Initializing once the keys are right, without servers: the judgement over the blocker evidence
 * (root causes first, their consequences not repeated, what waiting can clear), the two vantage points of
 * a node that does not answer the NEAR base, and the own-instance scripts run under dash against stub
 * `docker` and `curl` (config.yaml ports, the log summary with a multi-line TCP bind, /metrics, probes).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { BlockerEvidence, NodeView } from '../../helpers/blocker-evidence.ts';
import { blockerTable, judgeBlockers } from '../../helpers/blockers.ts';
import { diagnose, errors } from '../../helpers/diagnosis.ts';
import type { NodeEvidence, NodeSelfReport } from '../../helpers/evidence.ts';
import { selfReportOf } from '../../helpers/instances/own-instance.ts';
import {
  type NodeState,
  nodeStateScript,
  ownPublicDataScript,
  p2pProbeScript,
  parseNodeState,
  parseOwnPublicData,
  parseProbes,
  type Probe,
  reachPlan,
} from '../../helpers/instances/own-reports.ts';
import type { ContractState } from '../../helpers/near/contract-state.ts';
import { scenarioKey } from '../../twin/scenario.ts';
import { tempDir } from '../temp-dir.ts';

const key = (i: number, role: 'account' | 'p2p' = 'account') => scenarioKey('blockers', role, i, 'A').publicKey;
const CONTRACT = { contractId: 'v1.signer.localnet' };
const participants = [0, 1, 2].map((i) => ({
  accountId: `mpc-node-${i}.localnet`,
  id: i,
  url: `http://10.0.0.1${i}:8080`,
  signPk: key(i, 'p2p'),
}));

function initializing(instance: { attempt_id: number; completed: number[]; expires_on: number } | null) {
  const params = {
    participants: {
      next_id: 3,
      participants: participants.map((p) => [p.accountId, p.id, { url: p.url, sign_pk: p.signPk }]),
    },
    threshold: 2,
  };
  return {
    Initializing: {
      domains: { domains: [{ id: 0, scheme: 'Secp256k1' }], next_domain_id: 1 },
      epoch_id: 0,
      generated_keys: [],
      generating_key: {
        epoch_id: 0,
        domain: { id: 0, scheme: 'Secp256k1' },
        parameters: params,
        instance: instance && { ...instance, started_in: instance.expires_on - 31, public_key: null },
        next_attempt_id: instance ? instance.attempt_id + 1 : 0,
      },
    },
  } as unknown as ContractState;
}

const healthyState = (i: number, o: Partial<NodeState> = {}): NodeState => ({
  index: i,
  container: { state: 'running', startedAt: '2026-11-30T10:00:00Z', restarts: 0 },
  webUiPort: 8080,
  ownHealth: '200',
  metrics: { indexerHeight: 1000, job: 'Initializing', live: [0, 1, 2].filter((x) => x !== i), dead: [] },
  logs: { accessKeyNotFound: 0, tcpBind: 0, attestationFailed: 0, attested: 1, couldNotConnect: 0 },
  ...o,
});
const connected = (to: number, port = 3000): Probe => ({
  to: String(to),
  host: `10.0.0.1${to}`,
  port,
  exit: 52,
  connected: true,
  httpCode: '000',
});

/** Three nodes on :3000 (no collision), attested, connected, up to date; `o` breaks what a test needs. */
function evidence(o: { url?: string; nodes?: ((n: NodeView) => NodeView)[] } = {}): BlockerEvidence {
  const ps = participants.map((p) => ({
    ...p,
    url: o.url ? `http://10.0.0.1${p.id}:${o.url}` : `http://10.0.0.1${p.id}:3000`,
  }));
  const nodes: NodeView[] = ps.map((p) => ({
    index: p.id,
    accountId: p.accountId,
    instanceId: `i-0${p.id}`,
    privateIp: `10.0.0.1${p.id}`,
    state: healthyState(p.id),
    probes: [0, 1, 2].map((t) => connected(t)),
  }));
  return {
    head: 1001,
    keyEventTimeoutBlocks: 30,
    participants: ps,
    attestations: Object.fromEntries(ps.map((p) => [p.signPk, { Mock: 'Valid' }])),
    teeAccounts: ps.map((p) => ({ account_id: p.accountId, tls_public_key: p.signPk, account_public_key: null })),
    nodes: nodes.map((n, i) => o.nodes?.[i]?.(n) ?? n),
    sparePort: 3001,
    unread: [],
  };
}

/** A node whose probes of participant `to`'s P2P port are refused (nothing listens there). */
const refusedTo =
  (to: string) =>
  (n: NodeView): NodeView => ({
    ...n,
    probes: n.probes.map((p) => (p.to === to ? { ...p, exit: 7, connected: false } : p)),
  });

describe('what blocks the key event', () => {
  test('nothing found: one blocker that says so, and waiting may clear it', () => {
    const b = judgeBlockers(initializing(null), evidence(), CONTRACT);
    expect(b.map((x) => [x.code, x.clearsByWaiting])).toEqual([['unexplained', true]]);
  });

  test('the port collision: URL port = web_ui.port, the TCP bind log, the remedies tested', () => {
    const bind = '… ERROR mpc_node::coordinator: [Initializing] failed: TCP bind (Caused by: Address already in use)';
    const spare = (n: NodeView): Probe[] => [
      { to: 'spare', host: n.privateIp, port: 3001, exit: 7, connected: false, httpCode: '000' },
      { to: 'spare', host: '10.0.0.19', port: 3001, exit: 28, connected: false, httpCode: '000' },
    ];
    const collided = (n: NodeView): NodeView => ({
      ...n,
      state: healthyState(n.index, { lastLog: bind, logs: { ...healthyState(0).logs!, tcpBind: 4 } }),
      probes: [...[0, 1, 2].map((t) => ({ ...connected(t, 8080), exit: 0, httpCode: '404' })), ...spare(n)],
    });
    const ev = evidence({ url: '8080', nodes: [collided, collided, collided] });
    const b = judgeBlockers(initializing(null), ev, CONTRACT);
    expect(b.map((x) => x.code)).toEqual(['p2p-port-collision']);
    expect(b[0]!.clearsByWaiting).toBe(false);
    expect(b[0]!.sentence).toContain('cannot bind :8080');
    expect(b[0]!.sentence).toContain('no indexer.port_override');
    expect(b[0]!.sentence).toContain('(config.yaml web_ui.port 8080; an HTTP server answers on it)');
    expect(b[0]!.sentence).toContain('mpc-node-0.localnet ×4');
    expect(b[0]!.todo).toContain('nothing listens on 3001 on any node');
    expect(b[0]!.todo).toContain('the MPC security group drops 3001 between the instances');
    const table = blockerTable(initializing(null), ev);
    expect(table).toContain("8080 (the URL's; no indexer.port_override) — held by the web UI");
    expect(table).toContain('(HTTP 404: a web server, not a P2P listener)');
    expect(table).not.toContain('\n\n'); // a red message keeps the whole table
  });

  test('a port_override that keeps off the web UI is no collision', () => {
    const over = (n: NodeView): NodeView => ({ ...n, state: healthyState(n.index, { portOverride: 3000 }) });
    const ev = evidence({ url: '8080', nodes: [over, over, over] });
    expect(judgeBlockers(initializing(null), ev, CONTRACT).map((x) => x.code)).toEqual(['unexplained']);
  });

  test('a stopped container is the root cause: the refusals to reach it are not repeated', () => {
    const refused = refusedTo('2');
    const down = (n: NodeView): NodeView => ({
      ...n,
      state: healthyState(2, { container: { state: 'exited', startedAt: 'T', restarts: 0 } }),
    });
    const b = judgeBlockers(initializing(null), evidence({ nodes: [refused, refused, down] }), CONTRACT);
    expect(b.map((x) => [x.code, x.nodes])).toEqual([['container-down', ['mpc-node-2.localnet']]]);
    expect(b[0]!.todo).toContain('docker start mpc-node on i-02');
  });

  test('without a root cause, a peer nobody can connect to is named (and waiting may clear it)', () => {
    const refused = refusedTo('1');
    const b = judgeBlockers(initializing(null), evidence({ nodes: [refused, refused, refused] }), CONTRACT);
    expect(b.map((x) => [x.code, x.nodes, x.clearsByWaiting])).toEqual([
      ['p2p-not-listening', ['mpc-node-1.localnet'], true],
    ]);
  });

  test('not attested, the contract wanting a deposit: a refusal with the call to make, in NEAR', () => {
    const ev = evidence({
      nodes: [
        (n) => n,
        (n) => ({
          ...n,
          state: healthyState(1, {
            lastLog:
              'WARN mpc_node::tee: failed to submit attestation cause="…Attached 0, Required 1320000000000000000000…"',
            logs: { ...healthyState(1).logs!, attestationFailed: 7, attested: 0 },
          }),
        }),
      ],
    });
    ev.attestations[participants[1]!.signPk] = null;
    ev.teeAccounts = ev.teeAccounts!.filter((t) => t.account_id !== 'mpc-node-1.localnet');
    const b = judgeBlockers(initializing(null), ev, CONTRACT);
    expect(b.map((x) => [x.code, x.nodes, x.clearsByWaiting])).toEqual([
      ['not-attested', ['mpc-node-1.localnet'], false],
    ]);
    expect(b[0]!.sentence).toContain('(get_attestation → null; not in get_tee_accounts)');
    expect(b[0]!.todo).toContain(
      'a storage deposit of 0.00132 NEAR for a new attestation and the node attaches 0 NEAR',
    );
    expect(b[0]!.todo).toContain(`"tls_public_key":"${participants[1]!.signPk}"`);
  });

  test('a dropped P2P connection is the security group; keys not on chain come first', () => {
    const dropped = (n: NodeView): NodeView => ({
      ...n,
      probes: n.probes.map((p) => (p.to === '0' && n.index !== 0 ? { ...p, exit: 28, connected: false } : p)),
    });
    const akn = (n: NodeView): NodeView => ({
      ...dropped(n),
      state: healthyState(n.index, { logs: { ...healthyState(0).logs!, accessKeyNotFound: 12 } }),
    });
    const b = judgeBlockers(initializing(null), evidence({ nodes: [(n) => n, akn, dropped] }), CONTRACT);
    expect(b.map((x) => x.code)).toEqual(['access-key-not-found', 'p2p-dropped']);
    expect(b[1]!.sentence).toContain('mpc-node-1.localnet → mpc-node-0.localnet :3000');
    expect(b[1]!.todo).toContain('let tcp 3000 through between the MPC instances');
  });

  test('a chain view behind by more than an attempt lives stays; a small lag clears by waiting', () => {
    const lagging =
      (behind: number) =>
      (n: NodeView): NodeView => ({
        ...n,
        state: healthyState(2, { metrics: { ...healthyState(2).metrics!, indexerHeight: 1001 - behind } }),
      });
    const far = judgeBlockers(initializing(null), evidence({ nodes: [(n) => n, (n) => n, lagging(60)] }), CONTRACT);
    expect(far.map((x) => [x.code, x.clearsByWaiting])).toEqual([['indexer-behind', false]]);
    expect(far[0]!.sentence).toContain('lags the chain by 60 blocks');
    const near = judgeBlockers(initializing(null), evidence({ nodes: [(n) => n, (n) => n, lagging(20)] }), CONTRACT);
    expect(near.map((x) => [x.code, x.clearsByWaiting])).toEqual([['indexer-behind', true]]);
    const none = judgeBlockers(initializing(null), evidence({ nodes: [(n) => n, (n) => n, lagging(4)] }), CONTRACT);
    expect(none.map((x) => x.code)).toEqual(['unexplained']);
  });

  test('a node whose indexer has no block yet is still syncing: named, and the refusals to it not repeated', () => {
    const refused = refusedTo('2');
    const syncing = (n: NodeView): NodeView => ({
      ...n,
      state: healthyState(2, { metrics: { live: [], dead: [] } }),
    });
    const ev = evidence({ nodes: [refused, refused, syncing] });
    const b = judgeBlockers(initializing(null), ev, CONTRACT);
    expect(b.map((x) => [x.code, x.nodes, x.clearsByWaiting])).toEqual([
      ['indexer-behind', ['mpc-node-2.localnet'], true],
    ]);
    expect(b[0]!.sentence).toContain("mpc-node-2.localnet's chain view has no block yet");
    expect(blockerTable(initializing(null), ev)).toContain('no block processed yet');
  });
});

describe('whom each node tries to reach: every peer in a small fleet, the next eight in a large one', () => {
  const fleet = (n: number, id = (i: number) => i) =>
    Array.from({ length: n }, (_, i) => ({ index: i, accountId: `mpc-node-${i}.localnet`, id: id(i) }));

  test('up to nine participants, every node tries every port (its own included)', () => {
    const nine = fleet(9);
    expect([...reachPlan(nine, nine).values()].map((ids) => [...ids].sort().join())).toEqual(
      Array(9).fill('0,1,2,3,4,5,6,7,8'),
    );
  });

  test('beyond nine, its own port and the next eight in participant order, wrapping round', () => {
    const twelve = fleet(12, (i) => 100 + ((i * 5) % 12));
    const plan = reachPlan(twelve, twelve);
    expect(plan.get(0)).toEqual(['100', '101', '102', '103', '104', '105', '106', '107', '108']);
    expect(plan.get(2)).toEqual(['110', '111', '100', '101', '102', '103', '104', '105', '106']);
    const triedBy = (id: string) => [...plan.values()].filter((ids) => ids.includes(id)).length;
    expect(twelve.map((p) => triedBy(String(p.id)))).toEqual(Array(12).fill(9));
  });

  test('a node that is no participant tries the first nine', () => {
    const plan = reachPlan([{ index: 7, accountId: 'spare.localnet' }], fleet(30));
    expect(plan.get(7)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8']);
  });

  test('the report says when a node tried only some of its peers', () => {
    const ev = evidence();
    const table = (planned?: string[]) =>
      blockerTable(initializing(null), {
        ...ev,
        nodes: ev.nodes.map((n) => (planned ? { ...n, reachPlanned: planned } : n)),
      });
    expect(table()).toContain('connected (tested on the node itself)\n');
    expect(table(['0', '1', '2'])).toContain('connected (tested on the node itself)\n');
    expect(table(['0', '1'])).toContain('(tested on the node itself, to the next 1 of 2 peers in participant order)');
  });
});

describe('a node the NEAR base gets no answer from: two vantage points', () => {
  const ev = (node: NodeSelfReport): NodeEvidence => ({
    index: 0,
    accountId: 'mpc-node-0.localnet',
    instanceId: 'i-00',
    privateIp: '10.0.0.10',
    chain: {
      accountExists: true,
      accessKeys: [{ publicKey: key(0), permission: 'FullAccess' }],
      participantSignPk: key(0, 'p2p'),
    },
    secretsManager: {
      account: { secretName: 'mpc-node-0-mpc_account_sk', shape: 'plain', publicKey: key(0) },
      p2p: { secretName: 'mpc-node-0-mpc_p2p_private_key', shape: 'plain', publicKey: key(0, 'p2p') },
    },
    manifest: {
      nodeKey: 'node-0',
      accountId: 'mpc-node-0.localnet',
      accountPublicKey: key(0),
      p2pPublicKey: key(0, 'p2p'),
      problems: [],
    },
    node,
  });
  const timedOut = { health: '000', curlExit: 28 };
  const own = (o: { state?: string; signer?: string }) => ({
    index: 0,
    container: { state: o.state ?? 'running', startedAt: 'T', restarts: 0 },
    webUiPort: 8080,
    ownHealth: o.signer ? '200' : '000',
    ...(o.signer ? { signer: o.signer, p2p: key(0, 'p2p') } : {}),
  });

  test('answers on its own instance: a network warning, no re-materialise, keys judged from there', () => {
    const report = selfReportOf(timedOut, own({ signer: key(0) }));
    expect(report).toMatchObject({ reachable: true, from: 'instance', healthy: true, baseProbe: { curlExit: 28 } });
    const f = diagnose([ev(report)], CONTRACT);
    expect(errors(f)).toEqual([]);
    expect(f.map((x) => [x.severity, x.code, x.repair])).toEqual([['warning', 'node-unreachable', undefined]]);
    expect(f[0]!.message).toContain('connection timed out (curl exit 28');
    expect(f[0]!.refusal).toContain('a network finding, not a key repair or a restart');
  });

  test('and signs with a key that is not on chain there: that finding is judged too', () => {
    const other = scenarioKey('blockers', 'account', 9, 'Z').publicKey;
    const f = errors(diagnose([ev(selfReportOf(timedOut, own({ signer: other })))], CONTRACT));
    expect(f.map((x) => [x.code, x.repair?.kind])).toEqual([['node-key-not-on-chain', 'rematerialise-node-secrets']]);
  });

  test('its container is stopped: start it (nothing rewritten)', () => {
    const f = errors(diagnose([ev(selfReportOf({ health: '000', curlExit: 7 }, own({ state: 'exited' })))], CONTRACT));
    expect(f.map((x) => [x.code, x.repair?.kind])).toEqual([['node-unreachable', 'start-container']]);
    expect(f[0]!.message).toContain('on its instance the mpc-node container is exited (last started T)');
  });

  test('it runs but answers nowhere (a crash loop): re-materialise, as before', () => {
    const f = errors(diagnose([ev(selfReportOf(timedOut, own({ state: 'restarting' })))], CONTRACT));
    expect(f.map((x) => [x.code, x.repair?.kind])).toEqual([['node-unreachable', 'rematerialise-node-secrets']]);
  });
});

describe('the own-instance scripts under dash, against stub docker and curl', () => {
  const dir = tempDir('own-scripts-');
  const bin = join(dir, 'bin');
  const data = join(dir, 'data');
  mkdirSync(bin);
  mkdirSync(data);
  const stub = (name: string, body: string[]) => {
    writeFileSync(join(bin, name), ['#!/bin/sh', ...body, ''].join('\n'));
    chmodSync(join(bin, name), 0o755);
  };
  stub('docker', [
    'case "$1" in',
    '  inspect) echo "running 2026-11-30T10:00:00.1Z 2" ;;',
    `  logs) cat ${JSON.stringify(join(dir, 'log'))} ;;`,
    'esac',
  ]);
  stub('curl', [
    'for a; do url=$a; done',
    'case "$url" in',
    `  */metrics) cat ${JSON.stringify(join(dir, 'metrics'))} ;;`,
    '  */health) printf 200 ;;',
    '  */public_data) printf \'{"near_signer_public_key":"ed25519:S","near_p2p_public_key":"ed25519:P"}\' ;;',
    '  http://10.0.0.12:*) printf "0.000000 000"; exit 7 ;;',
    '  *:3001/) printf "0.000000 000"; exit 28 ;;',
    '  *) printf "0.000210 404" ;;',
    'esac',
  ]);
  writeFileSync(
    join(data, 'config.yaml'),
    'my_near_account_id: mpc-node-0.localnet\nweb_ui:\n  host: 0.0.0.0\n  port: 8080\nmigration_web_ui:\n' +
      '  host: 0.0.0.0\n  port: 8079\nindexer:\n  mpc_contract_id: v1.signer.localnet\n' +
      '  port_override: 3000\ncores: 12\n',
  );
  writeFileSync(
    join(dir, 'log'),
    [
      'T  INFO mpc_node::tee: successfully submitted attestation',
      'T  INFO mpc_node::p2p: Could not connect to 2, retrying: TCP connect, me 0',
      'T ERROR mpc_node::coordinator: [Initializing] failed: TCP bind',
      '',
      'Caused by:',
      '    Address already in use (os error 98)',
      'T  INFO mpc_node::coordinator: [Initializing] Starting',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'metrics'),
    [
      '# TYPE mpc_indexer_latest_block_height gauge',
      'mpc_indexer_latest_block_height 1234',
      'mpc_current_job_state{state="Invalid"} 0',
      'mpc_current_job_state{state="Initializing"} 1',
      'mpc_network_live_connections{my_participant_id="0",peer_participant_id="1"} 1',
      'mpc_network_live_connections{my_participant_id="0",peer_participant_id="2"} 0',
      '',
    ].join('\n'),
  );
  const nodes = [0, 1, 2].map((i) => ({ index: i, instanceId: `i-0${i}`, ip: `10.0.0.1${i}` }));
  const run = (lines: string[], instance = 'i-00') => {
    const r = spawnSync('dash', ['-s'], {
      input: `${lines.join('\n')}\n`,
      encoding: 'utf8',
      env: { PATH: `${bin}:/usr/bin:/bin`, MPC_DATA_DIR: data, AWS_SSM_INSTANCE_ID: instance },
    });
    expect(r.stderr).toBe('');
    return r.stdout;
  };

  test('node state: container, config.yaml ports, own /health, /metrics, the log with the TCP bind cause', () => {
    const s = parseNodeState(run(nodeStateScript(nodes)));
    expect(s).toEqual({
      index: 0,
      container: { state: 'running', startedAt: '2026-11-30T10:00:00.1Z', restarts: 2 },
      webUiPort: 8080,
      portOverride: 3000,
      ownHealth: '200',
      metrics: { indexerHeight: 1234, job: 'Initializing', live: [1], dead: [2] },
      logs: { accessKeyNotFound: 0, tcpBind: 1, attestationFailed: 0, attested: 1, couldNotConnect: 1 },
      lastLog:
        'T ERROR mpc_node::coordinator: [Initializing] failed: TCP bind ' +
        '(Caused by: Address already in use (os error 98))',
    });
  });

  test('P2P probes use port_override for every peer; no spare port where the web UI does not hold the P2P port', () => {
    const targets = nodes.map((n) => ({ to: String(n.index), host: n.ip, port: 8080 }));
    const probes = parseProbes(run(p2pProbeScript(nodes, targets, 3001))).sort((a, b) =>
      `${a.to}${a.host}`.localeCompare(`${b.to}${b.host}`),
    );
    expect(probes.map((p) => [p.to, p.host, p.port, p.exit, p.connected, p.httpCode])).toEqual([
      ['0', '10.0.0.10', 3000, 0, true, '404'],
      ['1', '10.0.0.11', 3000, 0, true, '404'],
      ['2', '10.0.0.12', 3000, 7, false, '000'],
    ]);
  });

  test('where the web UI holds the P2P port (the CDK collision), the spare port is tried on it and the next', () => {
    const config = join(data, 'config.yaml');
    const before = readFileSync(config, 'utf8');
    writeFileSync(config, before.replace('port_override: 3000', 'port_override: 8080'));
    try {
      const targets = nodes.map((n) => ({ to: String(n.index), host: n.ip, port: 3000 }));
      const spare = parseProbes(run(p2pProbeScript(nodes, targets, 3001))).filter((p) => p.to === 'spare');
      expect(spare.map((p) => [p.host, p.port, p.exit]).sort()).toEqual([
        ['10.0.0.10', 3001, 28],
        ['10.0.0.11', 3001, 28],
      ]);
    } finally {
      writeFileSync(config, before);
    }
  });

  test('with a plan, a node tries only the participants it names (here its own port and participant 2)', () => {
    const targets = nodes.map((n) => ({ to: String(n.index), host: n.ip, port: 8080 }));
    const plan = new Map([
      [0, ['0', '2']],
      [1, ['1', '2']],
    ]);
    const tried = parseProbes(run(p2pProbeScript(nodes, targets, undefined, plan))).map((p) => p.to);
    expect(tried.sort()).toEqual(['0', '2']);
    expect(() => p2pProbeScript(nodes, targets, undefined, new Map([[0, ['$(id)']]]))).toThrow(/cannot go/);
  });

  test('a node whose /metrics does not answer has no metrics line, not an empty one', () => {
    writeFileSync(join(dir, 'metrics'), '');
    expect(parseNodeState(run(nodeStateScript(nodes)))?.metrics).toBeUndefined();
  });

  test('own /public_data; an instance the script does not know says so and stops', () => {
    expect(parseOwnPublicData(run(ownPublicDataScript(nodes)))).toMatchObject({
      index: 0,
      ownHealth: '200',
      signer: 'ed25519:S',
      p2p: 'ed25519:P',
    });
    expect(run(ownPublicDataScript(nodes), 'i-99').trim()).toBe('node=unknown instance=i-99');
  });

  test('values that would break a script are refused, not quoted into it', () => {
    expect(() => nodeStateScript([{ index: 0, instanceId: 'i-0; rm -rf /', ip: '10.0.0.1' }])).toThrow(/cannot go/);
    expect(() => p2pProbeScript(nodes, [{ to: '0', host: '$(id)', port: 1 }])).toThrow(/cannot go/);
  });
});
