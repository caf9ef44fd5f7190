/**
 * The node's coordinator (near/mpc coordinator.rs, mpc-facts §3.3): one job per contract state.
 * `Initializing` and `Running` need the P2P mesh, so a participant's job starts by binding its
 * listener; a bind that fails ends the job with `[<job>] failed: TCP bind …` and the job starts
 * again next round (the node never crashes for it). In `Initializing` the leader (lowest
 * participant id) waits until it is connected to every peer before it sends start_keygen_instance;
 * each participant then takes everyone's commitment over the mesh and votes the resulting key.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { base58 } from '@scure/base';
import type { ChainClient, ChainView } from './chain-client.ts';
import type { ContractStateJson } from './node-logic.ts';
import { BindError, startMesh, type Mesh, type Peer } from './p2p.ts';
import type { Metrics } from './telemetry.ts';

type Log = (level: 'INFO' | 'WARN' | 'ERROR', target: string, msg: string, fields?: Record<string, unknown>) => void;
type Participants = [string, number, { url: string; sign_pk: string }][];
type JobName = 'Invalid' | 'Initializing' | 'Running';

export interface CoordinatorOptions {
  accountId: string;
  p2pPublicKey: string;
  hostIp: string;
  portOverride: number | undefined;
  home: string;
  pollMs: number;
  connectTimeoutMs: number;
  chain: ChainClient;
  metrics: Metrics;
  log: Log;
  reach: (targets: { host: string; port: number }[]) => Promise<boolean[]>;
  /** Called with every state the node acts on (for /debug/contract). */
  onState: (s: ContractStateJson) => void;
}

export const participantsOf = (s: ContractStateJson): Participants | undefined =>
  s && typeof s === 'object'
    ? 'Running' in s
      ? s.Running.parameters.participants.participants
      : 'Initializing' in s
        ? s.Initializing.generating_key.parameters.participants.participants
        : undefined
    : undefined;

/** Host and port the mesh uses for a participant URL: the URL's, or port_override for every participant. */
export function meshAddress(url: string, portOverride: number | undefined): { host: string; port: number } {
  const u = new URL(url);
  const port = portOverride ?? (u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80);
  return { host: u.hostname, port };
}

const jobNameOf = (s: ContractStateJson): JobName =>
  typeof s === 'object' && 'Initializing' in s
    ? 'Initializing'
    : typeof s === 'object' && 'Running' in s
      ? 'Running'
      : 'Invalid';

/** My keygen material: a secret share per key event (never leaves this process or its home dir). */
interface Keygen {
  shares: Map<string, bigint>;
  voted: Set<string>;
  shareDir: string;
  permanentDir: string;
}

const commitmentFor = (k: Keygen, key: string) => {
  const share = k.shares.get(key);
  return share === undefined ? undefined : secp256k1.Point.BASE.multiply(share).toHex(true);
};

/** One round of keygen in Initializing: the leader starts an attempt, everyone votes the key of a live one. */
async function initializingStep(
  o: CoordinatorOptions,
  k: Keygen,
  ev: InitializingEvent,
  view: ChainView,
  me: Participants[number],
  mesh: Mesh,
) {
  const participants = ev.parameters.participants.participants;
  const leader = [...participants].sort((a, b) => a[1] - b[1])[0]!;
  const inst = ev.instance && view.height < ev.instance.expires_on ? ev.instance : null;
  if (!inst) {
    if (leader[0] === o.accountId && mesh.allConnected()) {
      const id = { epoch_id: ev.epoch_id, domain_id: ev.domain.id, attempt_id: ev.next_attempt_id };
      o.log('INFO', 'mpc_node::key_events', `Key generation attempt ${JSON.stringify(id)}: starting key generation.`);
      await o.chain
        .send('start_keygen_instance', { key_event_id: id })
        .catch((e) => o.log('ERROR', 'mpc_node::key_events', `[Initializing] failed: ${(e as Error).message}`));
    }
    return;
  }
  const id = { epoch_id: ev.epoch_id, domain_id: ev.domain.id, attempt_id: inst.attempt_id };
  const eventKey = `${id.epoch_id}_${id.domain_id}_${id.attempt_id}`;
  if (inst.completed.includes(me[1]) || k.voted.has(eventKey)) return;
  if (!k.shares.has(eventKey)) {
    const share = BigInt(`0x${Buffer.from(secp256k1.utils.randomSecretKey()).toString('hex')}`);
    k.shares.set(eventKey, share);
    mkdirSync(k.shareDir, { recursive: true });
    writeFileSync(join(k.shareDir, `started_${eventKey}`), share.toString(16), { mode: 0o600 });
  }
  let root = secp256k1.Point.ZERO;
  for (const [, pid] of participants) {
    try {
      const c = pid === me[1] ? commitmentFor(k, eventKey)! : await mesh.commitmentOf(pid, eventKey);
      root = root.add(secp256k1.Point.fromHex(c));
    } catch {
      const what = `Key generation attempt ${JSON.stringify(id)}: waiting for participant ${pid}`;
      o.log('INFO', 'mpc_node::key_events', what);
      return; // try again next round while the instance lives
    }
  }
  const publicKey = `secp256k1:${base58.encode(root.toBytes(false).slice(1))}`;
  const tag = `Key generation attempt ${JSON.stringify(id)}`;
  o.log('INFO', 'mpc_node::key_events', `${tag}: sending vote_pk transaction.`);
  try {
    await o.chain.send('vote_pk', { key_event_id: id, public_key: publicKey });
    k.voted.add(eventKey);
    o.log('INFO', 'mpc_node::key_events', `${tag} completed successfully.`);
  } catch (e) {
    k.voted.add(eventKey); // one vote per attempt, as the real node sends it (no automatic resend)
    o.log('ERROR', 'mpc_node::key_events', `[Initializing] failed: ${(e as Error).message}`);
  }
}

/** Once Running, the share of each generated key moves to permanent_keys/. */
function keepShares(k: Keygen, s: Extract<ContractStateJson, { Running: unknown }>) {
  for (const d of s.Running.keyset.domains) {
    const key = `${s.Running.keyset.epoch_id}_${d.domain_id}_${d.attempt}`;
    const share = k.shares.get(key);
    if (share === undefined) continue;
    mkdirSync(k.permanentDir, { recursive: true });
    const target = join(k.permanentDir, `${s.Running.keyset.epoch_id}_${d.domain_id}`);
    if (!existsSync(target)) {
      writeFileSync(`${target}.tmp`, share.toString(16), { mode: 0o600 });
      renameSync(`${target}.tmp`, target);
    }
  }
}

export function createCoordinator(o: CoordinatorOptions) {
  const k: Keygen = {
    shares: new Map(),
    voted: new Set(),
    shareDir: join(o.home, 'temporary_keys'),
    permanentDir: join(o.home, 'permanent_keys'),
  };
  let job: { name: JobName; mesh?: Mesh; halted?: boolean } | undefined;
  let lastKind = '';
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** Bind the mesh for this job; false (after logging the job's failure) when the listener cannot bind. */
  async function ensureMesh(j: NonNullable<typeof job>, me: Participants[number], all: Participants) {
    if (j.mesh) return true;
    const peers: Peer[] = all.map(([accountId, id, info]) => ({
      id,
      accountId,
      signPk: info.sign_pk,
      ...meshAddress(info.url, o.portOverride),
    }));
    try {
      j.mesh = await startMesh({
        myId: me[1],
        accountId: o.accountId,
        p2pPublicKey: o.p2pPublicKey,
        hostIp: o.hostIp,
        listenPort: meshAddress(me[2].url, o.portOverride).port,
        participants: peers,
        reach: o.reach,
        connectTimeoutMs: o.connectTimeoutMs,
        commitment: (key) => commitmentFor(k, key),
        log: (level, msg) => o.log(level, 'mpc_node::p2p', msg),
        setLive: (peer, live) =>
          o.metrics.set(
            'mpc_network_live_connections',
            { my_participant_id: String(me[1]), peer_participant_id: String(peer) },
            live,
          ),
      });
      return true;
    } catch (e) {
      if (!(e instanceof BindError)) throw e;
      // anyhow's Debug rendering of `.context("TCP bind")` over the io::Error.
      o.log('ERROR', 'mpc_node::coordinator', `[${j.name}] failed: TCP bind\n\nCaused by:\n    ${e.osMessage}`);
      job = undefined; // the coordinator starts the job again
      return false;
    }
  }

  /** The job for the state's kind: stop the old one if the kind changed, start (or restart) this one. */
  function enterJob(name: JobName, s: ContractStateJson) {
    for (const k of ['Invalid', 'Initializing', 'Running', 'Resharing'])
      o.metrics.set('mpc_current_job_state', { state: k }, k === name ? 1 : 0);
    if (name !== lastKind) {
      o.log('INFO', 'mpc_node::coordinator', `Contract state changed: ${name}`);
      lastKind = name;
    }
    if (job && job.name !== name) {
      o.log('INFO', 'mpc_node::coordinator', `[${job.name}] contract state changed incompatibly, stopping`);
      job.mesh?.close();
      job = undefined;
    }
    if (!job) {
      job = { name };
      o.log('INFO', 'mpc_node::coordinator', `[${name}] Starting`);
      if (name === 'Running' && typeof s === 'object' && 'Running' in s && s.Running.keyset.domains.length === 0)
        o.log('INFO', 'mpc_node::coordinator', 'We have no keyshares. Waiting for Initialization.');
    }
    return job;
  }

  async function round(view: ChainView) {
    const s = view.state;
    o.onState(s);
    const j = enterJob(jobNameOf(s), s);
    const participants = participantsOf(s);
    const me = participants?.find((p) => p[0] === o.accountId && p[2].sign_pk === o.p2pPublicKey);
    if (!participants || !me) {
      if (!j.halted && participants)
        o.log(
          'INFO',
          'mpc_node::coordinator',
          'We are not a participant in the current epoch; doing nothing until contract state change',
        );
      if (!j.halted) o.log('INFO', 'mpc_node::coordinator', `[${j.name}] halted; waiting for state change or timeout`);
      j.halted = true;
      return;
    }
    if (!(await ensureMesh(j, me, participants))) return;
    if (typeof s === 'object' && 'Initializing' in s)
      await initializingStep(o, k, s.Initializing.generating_key, view, me, j.mesh!);
    if (typeof s === 'object' && 'Running' in s) keepShares(k, s);
  }

  return {
    async run(): Promise<never> {
      for (;;) {
        const view = await o.chain.refresh();
        if (view) await round(view);
        await sleep(o.pollMs);
      }
    },
    stop: () => job?.mesh?.close(),
  };
}

type InitializingEvent = Extract<ContractStateJson, { Initializing: unknown }>['Initializing']['generating_key'];
