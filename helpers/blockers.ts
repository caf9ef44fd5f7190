/**
 * Why the contract is not Running, once the keys are right (pure judgement over blocker-evidence.ts).
 * The key event needs every participant: its container up, its transactions signed with a key on
 * chain, attested on chain with the key it signs P2P with, its P2P listener bound, reachable by every
 * peer, and a chain view that keeps up. Each blocker names its nodes and evidence in one sentence and
 * says what to do; `clearsByWaiting` tells whether waiting for the key event can clear it.
 */
import type { BlockerEvidence, NodeView, ParticipantView, TeeAccount } from './blocker-evidence.ts';
import { meshAddress } from './blocker-evidence.ts';
import type { Probe } from './instances/own-reports.ts';
import { nearAmount } from './explain.ts';
import { shortKey } from './keys.ts';
import type { ContractState } from './near/contract-state.ts';

export type BlockerCode =
  | 'container-down'
  | 'no-report'
  | 'access-key-not-found'
  | 'p2p-port-collision'
  | 'not-attested'
  | 'p2p-dropped'
  | 'indexer-behind'
  | 'p2p-not-listening'
  | 'unexplained';

export interface Blocker {
  code: BlockerCode;
  /** The nodes it is about (account ids). */
  nodes: string[];
  /** What blocks, with its evidence, in one sentence. */
  sentence: string;
  /** What to do. */
  todo: string;
  /** Waiting for the key event can clear it (a node still starting); false: it stays until someone acts. */
  clearsByWaiting: boolean;
}

/** The RPC head while the nodes were asked (a lag is counted from the first, so it is never overstated). */
const headSaid = (ev: BlockerEvidence) =>
  ev.headAfter !== undefined && ev.headAfter !== ev.head
    ? `the RPC head ${ev.head}…${ev.headAfter} while the nodes were asked`
    : `the RPC head ${ev.head}`;

/** One participant with everything seen about it. */
interface Row {
  p: ParticipantView;
  n: NodeView | undefined;
  listen: { host: string; port: number } | undefined;
  attestation: unknown;
  tee: TeeAccount | undefined;
  /** get_tee_accounts holds this account with another TLS key. */
  teeOther: TeeAccount | undefined;
  lag: number | undefined;
}

const list = (names: string[]) =>
  names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function rowsOf(ev: BlockerEvidence): Row[] {
  return ev.participants.map((p) => {
    const n = ev.nodes.find((x) => x.accountId === p.accountId);
    const override = n?.state?.portOverride;
    let listen: Row['listen'];
    try {
      listen = meshAddress(p.url, override);
    } catch {
      listen = undefined;
    }
    const height = n?.state?.metrics?.indexerHeight;
    return {
      p,
      n,
      listen,
      attestation: p.signPk in ev.attestations ? ev.attestations[p.signPk] : undefined,
      tee: ev.teeAccounts?.find((t) => t.tls_public_key === p.signPk),
      teeOther: ev.teeAccounts?.find((t) => t.account_id === p.accountId && t.tls_public_key !== p.signPk),
      lag: height === undefined ? undefined : Math.max(0, ev.head - height),
    };
  });
}

const isDown = (r: Row) => !!r.n?.state && r.n.state.container.state !== 'running';
const akn = (r: Row) => r.n?.state?.logs?.accessKeyNotFound ?? 0;
const collides = (r: Row) => {
  const s = r.n?.state;
  return !!s && ((s.webUiPort !== undefined && r.listen?.port === s.webUiPort) || (s.logs?.tcpBind ?? 0) > 0);
};
const notAttested = (r: Row, ev: BlockerEvidence) =>
  r.attestation === null || (ev.teeAccounts !== undefined && r.attestation === undefined && !r.tee);
const peerProbes = (ev: BlockerEvidence, to: Row) =>
  ev.nodes.flatMap((n) => n.probes.filter((x) => x.to === String(to.p.id)).map((x) => ({ from: n, probe: x })));

function containerBlocker(r: Row): Blocker {
  const c = r.n!.state!.container;
  const who = r.p.accountId;
  const last = r.n!.state!.lastLog ? `; its last blocking log line: ${r.n!.state!.lastLog}` : '';
  const sentence =
    `${who}'s mpc-node container is ${c.state} (last started ${c.startedAt}, ` +
    `${plural(c.restarts, 'restart')})${last} — ` +
    `keygen needs every participant, so the others wait for ${who}`;
  const todo =
    c.state === 'exited' || c.state === 'created'
      ? `start it: docker start mpc-node on ${r.n!.instanceId} — npm run fix does that in step 03 ` +
        '(journaled; npm run rollback stops it again)'
      : c.state === 'missing'
        ? `there is no mpc-node container on ${r.n!.instanceId}: run the instance's bootstrap (UserData) again`
        : `see why it does not stay up: docker logs mpc-node on ${r.n!.instanceId}`;
  return { code: 'container-down', nodes: [who], sentence, todo, clearsByWaiting: false };
}

function keysBlocker(rows: Row[]): Blocker {
  const who = rows.map((r) => r.p.accountId);
  const counts = rows.map(akn).join(', ');
  return {
    code: 'access-key-not-found',
    nodes: who,
    sentence:
      `${list(who)} fail their transactions with AccessKeyNotFound (${counts} lines since the container started): ` +
      'they sign with a key that is not on their account, so they can neither attest nor vote',
    todo: 'repair the keys first: steps 01–03 (npm run plan, then npm run fix)',
    clearsByWaiting: false,
  };
}

/** A spare port as the remedy for a collision: is it free on the nodes, and does the security group pass it? */
function sparePortEvidence(ev: BlockerEvidence): string {
  const port = ev.sparePort;
  const spare = ev.nodes.flatMap((n) => n.probes.filter((p) => p.to === 'spare').map((p) => ({ n, p })));
  const self = spare.filter(({ n, p }) => p.host === n.privateIp);
  const peer = spare.filter(({ n, p }) => p.host !== n.privateIp);
  const name = (ip: string) => ev.nodes.find((n) => n.privateIp === ip)?.accountId ?? ip;
  const busy = self.filter(({ p }) => p.connected).map(({ n }) => n.accountId);
  const free = self.filter(({ p }) => p.exit === 7).length;
  const said: string[] = [];
  if (busy.length) said.push(`${port} is in use on ${list(busy)}: pick another port`);
  else if (free) said.push(`nothing listens on ${port} on ${free === ev.nodes.length ? 'any node' : `${free} nodes`}`);
  const dropped = peer.filter(({ p }) => p.exit === 28).map(({ n, p }) => `${n.accountId} → ${name(p.host)}`);
  const passed = peer
    .filter(({ p }) => p.exit === 7 || p.connected)
    .map(({ n, p }) => `${n.accountId} → ${name(p.host)}`);
  if (dropped.length)
    said.push(
      `the MPC security group drops ${port} between the instances (${dropped.join(', ')}: timed out) — ` +
        `add an ingress rule tcp ${port} from the MPC security group itself first`,
    );
  else if (passed.length)
    said.push(`the MPC security group lets ${port} through between the instances (${passed.join(', ')}: reached)`);
  return said.length ? ` (tested from the nodes: ${said.join('; ')})` : '';
}

function collisionBlocker(rows: Row[], ev: BlockerEvidence): Blocker {
  const who = rows.map((r) => r.p.accountId);
  const ports = [...new Set(rows.map((r) => r.listen?.port))].join(', ');
  const override = rows.some((r) => r.n?.state?.portOverride !== undefined)
    ? 'set by indexer.port_override'
    : 'no indexer.port_override';
  const web = [...new Set(rows.map((r) => r.n?.state?.webUiPort).filter((p) => p !== undefined))].join(', ');
  const http = rows.some((r) => r.n?.probes.some((x) => x.to === String(r.p.id) && x.httpCode !== '000'))
    ? '; an HTTP server answers on it'
    : '';
  const bound = rows.filter((r) => (r.n?.state?.logs?.tcpBind ?? 0) > 0);
  const logged = bound.length
    ? `; their logs: ${bound[0]!.n!.state!.lastLog ?? '[Initializing] failed: TCP bind'} ` +
      `(${bound.map((r) => `${r.p.accountId} ×${r.n!.state!.logs!.tcpBind}`).join(', ')} since the container started)`
    : '; not logged yet (a node logs it once its keys let it start the key event job)';
  const sentence =
    `the P2P listener of ${list(who)} cannot bind :${ports} — the port of the participant URL ` +
    `(${rows.map((r) => r.p.url).join(', ')}; ${override}) — because the web UI holds it ` +
    `(config.yaml web_ui.port ${web || '?'}${http})${logged}; so no key generation attempt can start`;
  const spare = ev.sparePort;
  const todo =
    'change the P2P port (not repaired automatically: it needs the nodes and the security group changed), either ' +
    `(a) add "port_override: ${spare}" under "indexer:" in /data/config.yaml on every node and ` +
    `docker restart mpc-node on every node${sparePortEvidence(ev)} — 8080, 8079 (web UIs), 3030 and 24567 ` +
    `(nearcore) are taken on an MPC instance; or (b) move the web UI off :${ports} (web_ui.port in config.yaml ` +
    "on every node; the NEAR base's health probes and the security group's rule for :" +
    `${ports} from the NEAR base move with it)`;
  return { code: 'p2p-port-collision', nodes: who, sentence, todo, clearsByWaiting: false };
}

function attestationBlocker(r: Row, ev: BlockerEvidence, contractId: string): Blocker {
  const who = r.p.accountId;
  const s = r.n?.state;
  const seen = [
    r.attestation === null ? 'get_attestation → null' : undefined,
    ev.teeAccounts && !r.tee ? 'not in get_tee_accounts' : undefined,
    r.teeOther ? `get_tee_accounts has ${who} with another TLS key ${shortKey(r.teeOther.tls_public_key)}` : undefined,
  ].filter(Boolean);
  const fails = s?.logs?.attestationFailed ?? 0;
  const panic = /Attached (\d+), Required (\d+)/.exec(s?.lastLog ?? '');
  const failing = fails
    ? `; its submit_participant_info fails (${plural(fails, 'time')} since the container started; last: ${s?.lastLog})`
    : '';
  const sentence =
    `${who} has no attestation on chain for its P2P key ${shortKey(r.p.signPk)} (${seen.join('; ')})${failing} — ` +
    'a node without its attestation does not join the P2P mesh, so no key generation attempt can start';
  const todo = panic
    ? `the contract wants a storage deposit of ${nearAmount(panic[2]!)} for a new attestation and the node attaches ` +
      `${nearAmount(panic[1]!)}: send submit_participant_info once as ${who} with that deposit and the node's own ` +
      `attestation (its /public_data tee_participant_info), e.g. near contract call-function as-transaction ` +
      `${contractId} submit_participant_info json-args '{"proposed_participant_attestation":<tee_participant_info>,` +
      `"tls_public_key":"${r.p.signPk}"}' prepaid-gas '300.0 Tgas' attached-deposit '${nearAmount(panic[2]!)}' ` +
      `sign-as ${who} — the node then finds it on chain and starts. Not a runbook repair: it signs a contract ` +
      "call with the node's account key and spends its NEAR"
    : `see why its submit_participant_info fails: docker logs mpc-node on ${r.n?.instanceId ?? 'its instance'}`;
  return { code: 'not-attested', nodes: [who], sentence, todo, clearsByWaiting: !panic };
}

function droppedBlocker(ev: BlockerEvidence, rows: Row[]): Blocker | undefined {
  const pairs = rows.flatMap((to) =>
    peerProbes(ev, to)
      .filter(({ from, probe }) => probe.exit === 28 && from.accountId !== to.p.accountId)
      .map(({ from, probe }) => ({ from: from.accountId, to: to.p.accountId, port: probe.port })),
  );
  if (!pairs.length) return undefined;
  const ports = [...new Set(pairs.map((p) => p.port))].join(', ');
  const seen = pairs.map((p) => `${p.from} → ${p.to} :${p.port}`).join(', ');
  return {
    code: 'p2p-dropped',
    nodes: [...new Set(pairs.map((p) => p.to))],
    sentence:
      `P2P connections between the instances are dropped: ${seen} timed out, tested from the nodes themselves ` +
      '(a closed port is refused; a timeout is a dropped packet)',
    todo: `let tcp ${ports} through between the MPC instances: an ingress rule from the MPC security group itself`,
    clearsByWaiting: false,
  };
}

function indexerBlocker(r: Row, ev: BlockerEvidence): Blocker {
  const who = r.p.accountId;
  const window = ev.keyEventTimeoutBlocks;
  const behind = window !== undefined && r.lag! > window;
  const last = r.n?.state?.lastLog ? ` (its log: ${r.n.state.lastLog})` : '';
  const sentence =
    `${who}'s chain view lags the chain by ${r.lag} blocks (its /metrics mpc_indexer_latest_block_height ` +
    `${r.n!.state!.metrics!.indexerHeight}; ${headSaid(ev)})` +
    (behind
      ? `, more than a key generation attempt lives (key_event_timeout_blocks ${window}): it sees each attempt ` +
        `after it expired, so its vote never counts${last}`
      : `: it sees each attempt late${last}`);
  const todo =
    `check the node's embedded nearcore (its indexer) on ${r.n!.instanceId}: its sync with the NEAR base ` +
    '(boot nodes; :24567 on the NEAR base from the node), its disk and CPU, its log (target indexer). ' +
    'Nothing is written: the runbook does not repair an indexer; run the gate again once it has caught up';
  return { code: 'indexer-behind', nodes: [who], sentence, todo, clearsByWaiting: !behind };
}

/** The node answers /metrics but has processed no block yet: its indexer is still syncing. */
const noChainView = (r: Row) => !!r.n?.state?.metrics && r.n.state.metrics.indexerHeight === undefined && !isDown(r);

function syncingBlocker(r: Row): Blocker {
  const who = r.p.accountId;
  return {
    code: 'indexer-behind',
    nodes: [who],
    sentence:
      `${who}'s chain view has no block yet (its /metrics has no mpc_indexer_latest_block_height): its indexer ` +
      'is still syncing, and until it has caught up the node cannot attest, open its P2P listener or vote',
    todo:
      `wait for it to catch up, or check the node's embedded nearcore on ${r.n!.instanceId}: its sync with the ` +
      'NEAR base (boot nodes; :24567 on the NEAR base from the node), its log (target indexer)',
    clearsByWaiting: true,
  };
}

function notListeningBlocker(r: Row, refused: { from: NodeView; probe: Probe }[]): Blocker {
  const who = r.p.accountId;
  const from = refused.map((x) => x.from.accountId).join(', ');
  const last = r.n?.state?.lastLog ? `; its last blocking log line: ${r.n.state.lastLog}` : '';
  return {
    code: 'p2p-not-listening',
    nodes: [who],
    sentence: `nothing listens on ${who}'s P2P port ${refused[0]!.probe.port} (refused from ${from})${last}`,
    todo: `see why ${who} has not opened its P2P listener: docker logs mpc-node on ${r.n?.instanceId ?? 'the node'}`,
    clearsByWaiting: true,
  };
}

/** What blocks the key event, root causes first; the consequences of a root cause are not repeated. */
export function judgeBlockers(state: ContractState, ev: BlockerEvidence, o: { contractId: string }): Blocker[] {
  const rows = rowsOf(ev);
  const out: Blocker[] = [];
  const rooted = new Set<string>();
  const take = (b: Blocker | undefined) => {
    if (!b) return;
    out.push(b);
    for (const n of b.nodes) rooted.add(n);
  };
  for (const r of rows.filter(isDown)) take(containerBlocker(r));
  for (const r of rows.filter((x) => !x.n || x.n.unanswered)) {
    const why = r.n ? `its instance gave no report (${r.n.unanswered})` : 'it is not a node of the MPC stack';
    const todo = 'check its SSM agent (00-preflight says whether it is Online) and run the gate again';
    take({
      code: 'no-report',
      nodes: [r.p.accountId],
      sentence: `${r.p.accountId}: ${why}`,
      todo,
      clearsByWaiting: true,
    });
  }
  const keys = rows.filter((r) => akn(r) > 0 && !isDown(r));
  if (keys.length) take(keysBlocker(keys));
  const collided = rows.filter((r) => collides(r) && !isDown(r));
  if (collided.length) take(collisionBlocker(collided, ev));
  for (const r of rows.filter((x) => notAttested(x, ev) && !isDown(x))) take(attestationBlocker(r, ev, o.contractId));
  take(droppedBlocker(ev, rows));
  const lagLimit = Math.max(5, Math.floor((ev.keyEventTimeoutBlocks ?? 30) / 2));
  for (const r of rows.filter((x) => (x.lag ?? 0) > lagLimit && !rooted.has(x.p.accountId)))
    take(indexerBlocker(r, ev));
  for (const r of rows.filter((x) => noChainView(x) && !rooted.has(x.p.accountId))) take(syncingBlocker(r));
  for (const r of rows.filter((x) => !rooted.has(x.p.accountId))) {
    const refused = peerProbes(ev, r).filter(({ probe }) => probe.exit === 7);
    if (refused.length) take(notListeningBlocker(r, refused));
  }
  if (!out.length) {
    const sentence =
      `no blocker found: every node runs, is attested, reaches its peers and keeps up with the chain ` +
      `(${votes(state, ev.head)}) — the key event may still be under way`;
    const todo = 'wait (npm run fix waits up to RUNBOOK_RUNNING_TIMEOUT_S) and run the gate again';
    take({ code: 'unexplained', nodes: [], sentence, todo, clearsByWaiting: true });
  }
  return out;
}

/** "attempt 4: votes 2 of 3" / "votes 0 of 3 (no attempt running)". */
export function votes(state: ContractState, height: number): string {
  if (state === 'NotInitialized' || !('Initializing' in state)) return 'no key event';
  const ev = state.Initializing.generating_key;
  const n = ev.parameters.participants.participants.length;
  const i = ev.instance;
  if (!i || height >= i.expires_on) return `votes 0 of ${n} (no attempt running)`;
  return `attempt ${i.attempt_id}: votes ${i.completed.length} of ${n}`;
}

// --- the per-node table ----------------------------------------------------------------------------

function votedOf(state: ContractState, height: number, id: number): string {
  if (state === 'NotInitialized' || !('Initializing' in state)) return '—';
  const ev = state.Initializing.generating_key;
  const i = ev.instance;
  if (!i) return `no attempt running (next attempt ${ev.next_attempt_id})`;
  const did = i.completed.includes(id) ? 'voted' : 'not voted';
  return height >= i.expires_on ? `attempt ${i.attempt_id} expired (${did})` : `attempt ${i.attempt_id}: ${did}`;
}

function attestedOf(r: Row): string {
  const got = r.attestation === undefined ? 'not read' : JSON.stringify(r.attestation);
  const accountKey = shortKey(r.tee?.account_public_key ?? undefined);
  const tee = r.tee
    ? `get_tee_accounts: TLS ${shortKey(r.tee.tls_public_key)}, account key ${accountKey}`
    : r.teeOther
      ? `get_tee_accounts: only another TLS key ${shortKey(r.teeOther.tls_public_key)}`
      : 'not in get_tee_accounts';
  return `get_attestation(${shortKey(r.p.signPk)}) = ${got}; ${tee}`;
}

function portOf(r: Row): string {
  const s = r.n?.state;
  if (!r.listen) return `? (participant URL ${r.p.url})`;
  const whose = s?.portOverride !== undefined ? 'indexer.port_override' : "the URL's; no indexer.port_override";
  const self = r.n?.probes.find((x) => x.to === String(r.p.id));
  const held =
    s?.webUiPort === r.listen.port
      ? `the web UI (config.yaml web_ui.port ${s.webUiPort})`
      : !self
        ? 'not tested'
        : self.httpCode !== '000'
          ? `an HTTP server (HTTP ${self.httpCode})`
          : self.connected
            ? 'a listener that does not speak HTTP (the P2P listener)'
            : self.exit === 7
              ? 'nothing (refused)'
              : `unknown (curl exit ${self.exit})`;
  const bind = s?.logs?.tcpBind ? `; TCP bind failed ×${s.logs.tcpBind}` : '';
  return `${r.listen.port} (${whose}) — held by ${held}${bind}`;
}

function reachOfRow(r: Row): string {
  const probes = (r.n?.probes ?? []).filter((x) => x.to !== 'spare' && x.to !== String(r.p.id));
  if (!probes.length) return r.n?.unanswered ? 'not tested (no report)' : 'not tested';
  return probes
    .sort((a, b) => Number(a.to) - Number(b.to))
    .map((x) => {
      const how = x.connected
        ? `connected${x.httpCode !== '000' ? ` (HTTP ${x.httpCode}: a web server, not a P2P listener)` : ''}`
        : x.exit === 7
          ? 'refused'
          : x.exit === 28
            ? 'timed out'
            : `curl exit ${x.exit}`;
      return `→ ${x.to} ${x.host}:${x.port} ${how}`;
    })
    .join(' · ');
}

/** Where the reach was tried from, and (in a large fleet, where each node tries some peers) to how many. */
function reachFrom(r: Row, participants: number): string {
  const planned = r.n?.reachPlanned?.filter((id) => id !== String(r.p.id)).length ?? participants - 1;
  const some =
    planned < participants - 1 ? `, to the next ${planned} of ${participants - 1} peers in participant order` : '';
  return `(tested on the node itself${some})`;
}

function nodeLines(r: Row, state: ContractState, ev: BlockerEvidence): string[] {
  const s = r.n?.state;
  const c = s?.container;
  const container = c
    ? `${c.state} ${c.state === 'running' ? 'since' : 'last started'} ${c.startedAt}, ` +
      `${plural(c.restarts, 'restart')}; ` +
      `/health on its own instance ${s.ownHealth}`
    : (r.n?.unanswered ?? 'not a node of the MPC stack');
  const m = s?.metrics;
  const live = m ? `; live P2P connections to ${m.live.length ? m.live.join(', ') : 'none'}` : '';
  const chain =
    m?.indexerHeight !== undefined
      ? `block ${m.indexerHeight} (${headSaid(ev)}: ${r.lag} behind); job ${m.job ?? '?'}${live}`
      : m
        ? `no block processed yet (no mpc_indexer_latest_block_height in /metrics)${live}`
        : 'no /metrics';
  return [
    `${r.p.accountId} — participant ${r.p.id}, ${r.n?.instanceId ?? 'no instance'}, ${r.p.url}`,
    `  attested    ${attestedOf(r)}`,
    `  voted       ${votedOf(state, ev.head, r.p.id)}`,
    `  P2P port    ${portOf(r)}`,
    `  reach       ${reachOfRow(r)} ${reachFrom(r, ev.participants.length)}`,
    `  container   ${container}`,
    `  chain view  ${chain}`,
    `  last log    ${s?.lastLog ?? (s?.logs ? 'nothing blocking since the container started' : '—')}`,
  ];
}

/** The per-node table: one block of lines per participant (no blank line: a red message keeps it whole). */
export function blockerTable(state: ContractState, ev: BlockerEvidence): string {
  const unread = ev.unread.length ? [`not read: ${ev.unread.join('; ')}`] : [];
  return [...rowsOf(ev).flatMap((r) => nodeLines(r, state, ev)), ...unread].join('\n');
}
