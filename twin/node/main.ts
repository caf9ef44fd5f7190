/**
 * The twin's MPC node: what the image `nearone/mpc-node:*` runs (`mpc-node start local`).
 * One OS process per node. It reads its home dir like the real node (config.yaml, secrets.json —
 * generated only when missing), serves the real HTTP endpoints, follows the contract through the
 * RPC, submits its attestation and takes part in keygen — every transaction signed with its own
 * key, so a key that is not on its account fails exactly as on the real Layer 3.
 */
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import {
  JsonRpcProvider,
  KeyPair,
  KeyPairSigner,
  actions,
  createTransaction,
  baseDecode,
  type KeyPairString,
} from 'near-api-js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { base58 } from '@scure/base';
import { describeContract, describeInvalidTx, display, validateNodeKey, type ContractStateJson } from './node-logic.ts';
import { formatLog, Metrics } from './telemetry.ts';

const env = process.env;
const home = env.MPC_HOME_DIR ?? '/data';
const log = (level: 'INFO' | 'WARN' | 'ERROR', target: string, msg: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${formatLog(level, target, msg, fields)}\n`);
const fatal = (msg: string): never => {
  process.stderr.write(`Error: ${msg}\n`);
  process.exit(1);
};

if (process.argv[2] !== 'start') fatal(`unrecognized subcommand '${process.argv[2] ?? ''}'`);
if (!/^[0-9a-fA-F]{32}$/.test(env.MPC_SECRET_STORE_KEY ?? '')) fatal('invalid local storage aes key hex');

// --- config.yaml and secrets.json -------------------------------------------------------------
const configPath = join(home, 'config.yaml');
if (!existsSync(configPath)) fatal(`failed to read config file ${configPath}: No such file or directory (os error 2)`);
type NodeConfig = {
  my_near_account_id: string;
  web_ui?: { host?: string; port?: number };
  indexer?: { mpc_contract_id?: string };
};
let config: NodeConfig;
try {
  config = parseYaml(readFileSync(configPath, 'utf8')) as NodeConfig;
  if (typeof config?.my_near_account_id !== 'string') throw new Error('missing field `my_near_account_id`');
} catch (e) {
  fatal(`failed to parse config file ${configPath}: ${(e as Error).message.split('\n')[0]}`);
}
const accountId = config!.my_near_account_id;
const contractId = config!.indexer?.mpc_contract_id ?? 'v1.signer.localnet';
const webPort = config!.web_ui?.port ?? 8080;

const secretsPath = join(home, 'secrets.json');
function generateKey(): string {
  const seed = randomBytes(32);
  return `ed25519:${base58.encode(Uint8Array.from([...seed, ...ed25519.getPublicKey(seed)]))}`;
}
if (!existsSync(secretsPath)) {
  const generated = {
    p2p_private_key: generateKey(),
    near_signer_key: generateKey(),
    near_responder_keys: [generateKey()],
  };
  writeFileSync(secretsPath, JSON.stringify(generated), { mode: 0o600 });
  log('INFO', 'mpc_node::config', 'secrets.json not found; generated new keys');
}
let secrets: { p2p_private_key: string; near_signer_key: string; near_responder_keys?: string[] };
try {
  secrets = JSON.parse(readFileSync(secretsPath, 'utf8'));
} catch (e) {
  fatal(`failed to parse ${secretsPath}: ${(e as Error).message.replace(/"[^"]*"/g, '"…"')}`);
}
const signerPublic = validateNodeKey(secrets!.near_signer_key);
const p2pPublic = validateNodeKey(secrets!.p2p_private_key);
if (typeof signerPublic !== 'string') fatal(signerPublic.error);
if (typeof p2pPublic !== 'string') fatal(p2pPublic.error);
const responderPublics = (secrets!.near_responder_keys ?? [])
  .map((k) => validateNodeKey(k))
  .map((r) => (typeof r === 'string' ? r : fatal(r.error)));
const signer = new KeyPairSigner(KeyPair.fromString(secrets!.near_signer_key as KeyPairString));

// --- telemetry and web server ------------------------------------------------------------------
const metrics = new Metrics();
let lastState: ContractStateJson | undefined;
let myParticipantId: number | undefined;
const shares = new Map<string, bigint>(); // key event -> my secret share (never leaves this process)
const shareDir = join(home, 'temporary_keys');
const permanentDir = join(home, 'permanent_keys');

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  const text = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  };
  if (url === '/health') return text(200, 'OK');
  if (url === '/public_data') {
    return text(
      200,
      JSON.stringify({
        near_signer_public_key: signerPublic,
        near_p2p_public_key: p2pPublic,
        near_responder_public_keys: responderPublics,
        tee_participant_info: { Mock: 'Valid' },
      }),
      'application/json',
    );
  }
  if (url === '/metrics') return text(200, metrics.render());
  if (url === '/debug/contract') return text(200, describeContract(lastState));
  if (url === '/p2p/hello')
    return text(200, JSON.stringify({ account_id: accountId, p2p_public_key: p2pPublic }), 'application/json');
  const m = /^\/p2p\/keygen\/(\d+)\/(\d+)\/(\d+)$/.exec(url);
  if (m) {
    const share = shares.get(`${m[1]}_${m[2]}_${m[3]}`);
    if (share === undefined) return text(404, 'no such key event');
    return text(
      200,
      JSON.stringify({ account_id: accountId, commitment: secp256k1.Point.BASE.multiply(share).toHex(true) }),
      'application/json',
    );
  }
  text(404, '');
});
server.listen(webPort, env.TWIN_HOST_IP ?? '127.0.0.1', () =>
  log('INFO', 'mpc_node::web', `web server listening on ${env.TWIN_HOST_IP ?? '127.0.0.1'}:${webPort}`),
);
server.on('error', (e) => fatal(`TCP bind: ${e.message}`));

// --- chain access -------------------------------------------------------------------------------
const provider = new JsonRpcProvider(
  { url: env.TWIN_NEAR_RPC_URL ?? 'http://127.0.0.1:3030' },
  { retries: 1, wait: 100 },
);
const pollMs = Number(env.TWIN_POLL_MS ?? 500);
const backoffMax = Number(env.TWIN_ATTESTATION_BACKOFF_MAX_MS ?? 60_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let nextNonce: bigint | undefined;

/** Sign and send one FunctionCall as my account with my key, as the node's tx_sender does. */
async function send(method: string, args: unknown): Promise<void> {
  const publicKey = signer.getPublicKey
    ? await signer.getPublicKey()
    : KeyPair.fromString(secrets.near_signer_key as KeyPairString).getPublicKey();
  if (nextNonce === undefined) {
    try {
      const ak = await provider.viewAccessKey({ accountId, publicKey });
      nextNonce = BigInt(ak.nonce) + 1n;
    } catch {
      const status = await provider.viewNodeStatus();
      nextNonce = BigInt(status.sync_info.latest_block_height) * 1_000_000n - 1n; // key unknown to us: the chain decides
    }
  }
  const block = await provider.viewBlock({ finality: 'final' });
  const tx = createTransaction(
    accountId,
    publicKey,
    contractId,
    nextNonce,
    [actions.functionCall(method, args as object, 300_000_000_000_000n, 0n)],
    baseDecode(block.header.hash),
  );
  const { signedTransaction } = await signer.signTransaction(tx);
  log('INFO', 'mpc_node::indexer::tx_sender', `sending tx with ak=${publicKey.toString()} nonce=${nextNonce}`);
  try {
    const out = await provider.sendTransactionUntil(signedTransaction, 'EXECUTED_OPTIMISTIC');
    nextNonce += 1n;
    const status = out.status as { Failure?: unknown };
    if (status && typeof status === 'object' && 'Failure' in status) {
      metrics.txOutcome(method, 'unknown_err');
      throw new Error(`transaction failed: ${JSON.stringify(status.Failure)}`);
    }
    metrics.txOutcome(method, 'succeeded');
  } catch (e) {
    nextNonce = undefined;
    const data = (e as { data?: unknown }).data;
    const invalid = describeInvalidTx(e, { accountId, publicKey: signerPublic as string });
    if (invalid) {
      metrics.txOutcome(method, 'local_error');
      log('ERROR', 'mpc_node::indexer::tx_sender', `Failed to forward transaction ${requestName(method)}(…)`, {
        err: display(`unexpected ProcessTxResponse: InvalidTx(${invalid})`), // tracing's %err: Display, unquoted
      });
      throw new Error(`InvalidTx(${invalid})`);
    }
    if (!(e as Error).message.startsWith('transaction failed')) metrics.txOutcome(method, 'unknown');
    throw new Error(data ? JSON.stringify(data) : (e as Error).message);
  }
}

const requestName = (m: string) =>
  m
    .split('_')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');

async function readState(): Promise<ContractStateJson | undefined> {
  try {
    const s = (await provider.callFunction({ contractId, method: 'state', args: {} })) as ContractStateJson;
    const h = await provider.viewNodeStatus();
    metrics.set('mpc_indexer_latest_block_height', {}, h.sync_info.latest_block_height);
    return s;
  } catch (e) {
    log('ERROR', 'mpc_node::indexer', `error reading config from chain: ${(e as Error).message}`);
    return undefined;
  }
}

// --- attestation (awaited before the coordinator starts) --------------------------------------
async function submitAttestation() {
  let delay = 100;
  for (;;) {
    try {
      await send('submit_participant_info', {
        proposed_participant_attestation: { Mock: 'Valid' },
        tls_public_key: p2pPublic,
      });
      const att = await provider.callFunction({
        contractId,
        method: 'get_attestation',
        args: { tls_public_key: p2pPublic },
      });
      if (JSON.stringify(att) === JSON.stringify({ Mock: 'Valid' })) {
        log('INFO', 'mpc_node::tee', 'successfully submitted attestation');
        return;
      }
      throw new Error('attestation not visible on chain');
    } catch (e) {
      log('WARN', 'mpc_node::tee', 'failed to submit attestation', {
        cause: (e as Error).message,
        backoff_duration: `${(delay / 1000).toFixed(3)}s`,
      });
      await sleep(delay);
      delay = Math.min(backoffMax, Math.ceil(delay * 1.5));
    }
  }
}

// --- coordinator -------------------------------------------------------------------------------
type Participants = [string, number, { url: string; sign_pk: string }][];
const participantsOf = (s: ContractStateJson): Participants | undefined =>
  s && typeof s === 'object'
    ? 'Running' in s
      ? s.Running.parameters.participants.participants
      : 'Initializing' in s
        ? s.Initializing.generating_key.parameters.participants.participants
        : undefined
    : undefined;

// biome-ignore lint/suspicious/noExplicitAny: a peer's JSON answer, checked field by field by the caller
async function fetchJson(url: string): Promise<any> {
  const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

async function connected(participants: Participants): Promise<boolean> {
  let live = 0;
  for (const [account, id, info] of participants) {
    try {
      const hello = await fetchJson(`${info.url}/p2p/hello`);
      const ok = hello.account_id === account && hello.p2p_public_key === info.sign_pk;
      metrics.set(
        'mpc_network_live_connections',
        { my_participant_id: String(myParticipantId), peer_participant_id: String(id) },
        ok ? 1 : 0,
      );
      if (ok) live++;
    } catch {
      metrics.set(
        'mpc_network_live_connections',
        { my_participant_id: String(myParticipantId), peer_participant_id: String(id) },
        0,
      );
      log('INFO', 'mpc_node::p2p', `Could not connect to ${id}, retrying, me ${myParticipantId}`);
    }
  }
  return live === participants.length;
}

const voted = new Set<string>();
let lastKind = '';

async function initializingStep(s: Extract<ContractStateJson, { Initializing: unknown }>, height: number) {
  const ev = s.Initializing.generating_key;
  const participants = ev.parameters.participants.participants;
  const me = participants.find((p) => p[0] === accountId && p[2].sign_pk === p2pPublic);
  if (!me) {
    if (myParticipantId !== -1)
      log(
        'INFO',
        'mpc_node::coordinator',
        'We are not a participant in the current epoch; doing nothing until contract state change',
      );
    myParticipantId = -1;
    return;
  }
  myParticipantId = me[1];
  const leader = [...participants].sort((a, b) => a[1] - b[1])[0]!;
  const inst = ev.instance && height < ev.instance.expires_on ? ev.instance : null;
  if (!inst) {
    if (leader[0] === accountId && (await connected(participants))) {
      const id = { epoch_id: ev.epoch_id, domain_id: ev.domain.id, attempt_id: ev.next_attempt_id };
      log('INFO', 'mpc_node::key_events', `Key generation attempt ${JSON.stringify(id)}: starting key generation.`);
      await send('start_keygen_instance', { key_event_id: id }).catch((e) =>
        log('ERROR', 'mpc_node::key_events', `[Initializing] failed: ${(e as Error).message}`),
      );
    }
    return;
  }
  const id = { epoch_id: ev.epoch_id, domain_id: ev.domain.id, attempt_id: inst.attempt_id };
  const eventKey = `${id.epoch_id}_${id.domain_id}_${id.attempt_id}`;
  if (inst.completed.includes(me[1]) || voted.has(eventKey)) return;
  if (!shares.has(eventKey)) {
    const share = BigInt(`0x${Buffer.from(secp256k1.utils.randomSecretKey()).toString('hex')}`);
    shares.set(eventKey, share);
    mkdirSync(shareDir, { recursive: true });
    writeFileSync(join(shareDir, `started_${eventKey}`), share.toString(16), { mode: 0o600 });
  }
  let root = secp256k1.Point.ZERO;
  for (const [, pid, info] of participants) {
    try {
      const c = await fetchJson(`${info.url}/p2p/keygen/${id.epoch_id}/${id.domain_id}/${id.attempt_id}`);
      root = root.add(secp256k1.Point.fromHex(c.commitment));
    } catch {
      log(
        'INFO',
        'mpc_node::key_events',
        `Key generation attempt ${JSON.stringify(id)}: waiting for participant ${pid}`,
      );
      return; // try again next poll while the instance lives
    }
  }
  const publicKey = `secp256k1:${base58.encode(root.toBytes(false).slice(1))}`;
  log('INFO', 'mpc_node::key_events', `Key generation attempt ${JSON.stringify(id)}: sending vote_pk transaction.`);
  try {
    await send('vote_pk', { key_event_id: id, public_key: publicKey });
    voted.add(eventKey);
    log('INFO', 'mpc_node::key_events', `Key generation attempt ${JSON.stringify(id)} completed successfully.`);
  } catch (e) {
    log('ERROR', 'mpc_node::key_events', `[Initializing] failed: ${(e as Error).message}`);
  }
}

function keepShares(s: Extract<ContractStateJson, { Running: unknown }>) {
  for (const k of s.Running.keyset.domains) {
    const key = `${s.Running.keyset.epoch_id}_${k.domain_id}_${k.attempt}`;
    const share = shares.get(key);
    if (share === undefined) continue;
    mkdirSync(permanentDir, { recursive: true });
    const target = join(permanentDir, `${s.Running.keyset.epoch_id}_${k.domain_id}`);
    if (!existsSync(target)) {
      writeFileSync(`${target}.tmp`, share.toString(16), { mode: 0o600 });
      renameSync(`${target}.tmp`, target);
    }
  }
}

async function coordinator() {
  for (;;) {
    const s = await readState();
    if (s) {
      lastState = s;
      const kind = typeof s === 'string' ? 'Invalid' : Object.keys(s)[0]!;
      for (const k of ['Invalid', 'Initializing', 'Running', 'Resharing'])
        metrics.set('mpc_current_job_state', { state: k }, k === kind ? 1 : 0);
      if (kind !== lastKind) {
        log('INFO', 'mpc_node::coordinator', `Contract state changed: ${kind}`);
        if (kind === 'Initializing') log('INFO', 'mpc_node::coordinator', '[Initializing] Starting');
        if (kind === 'Running' && typeof s === 'object' && 'Running' in s && s.Running.keyset.domains.length === 0)
          log('INFO', 'mpc_node::coordinator', 'We have no keyshares. Waiting for Initialization.');
        lastKind = kind;
      }
      const height = (await provider.viewBlock({ finality: 'optimistic' }).catch(() => undefined))?.header.height ?? 0;
      if (typeof s === 'object' && 'Initializing' in s) await initializingStep(s, height);
      if (typeof s === 'object' && 'Running' in s) {
        keepShares(s);
        const me = participantsOf(s)?.find((p) => p[0] === accountId);
        myParticipantId = me?.[1];
      }
    }
    await sleep(pollMs);
  }
}

async function main() {
  // Block until the chain is synced and the contract state is readable.
  for (;;) {
    try {
      const st = await provider.viewNodeStatus();
      if (!st.sync_info.syncing && (await readState()) !== undefined) break;
    } catch (e) {
      log('ERROR', 'mpc_node::indexer', `error reading config from chain: ${(e as Error).message}`);
    }
    await sleep(1000);
  }
  await submitAttestation();
  await coordinator();
}

process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
main().catch((e) => fatal((e as Error).message));
