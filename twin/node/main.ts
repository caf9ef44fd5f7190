/**
 * The twin's MPC node: what the image `nearone/mpc-node:*` runs (`mpc-node start local`).
 * One OS process per node. It reads its home dir like the real node (config.yaml, secrets.json —
 * generated only when missing), serves the real HTTP endpoints, follows the contract through the
 * RPC, submits its attestation and takes part in keygen — every transaction signed with its own
 * key, so a key that is not on its account fails exactly as on the real Layer 3. Its P2P mesh has
 * its own listener (twin/node/p2p.ts), on the port of its participant URL, apart from the web UI.
 *
 * Twin facts from the container runtime: TWIN_HOST_IP (the instance address it binds), TWIN_NEAR_RPC_URL
 * (its embedded nearcore's view of the chain), TWIN_INSTANCE_ID + TWIN_NETWORK_URL (whom to ask whether the
 * security groups let a dial through), TWIN_INDEXER_LAG_BLOCKS (how far its chain view lags the head).
 */
import { createServer } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { ed25519 } from '@noble/curves/ed25519.js';
import { base58 } from '@scure/base';
import { createChainClient } from './chain-client.ts';
import { createCoordinator } from './coordinator.ts';
import { describeContract, validateNodeKey, type ContractStateJson } from './node-logic.ts';
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
  indexer?: { mpc_contract_id?: string; port_override?: number };
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
const portOverride = config!.indexer?.port_override ?? undefined;

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

// --- telemetry and web server ------------------------------------------------------------------
const metrics = new Metrics();
const hostIp = env.TWIN_HOST_IP ?? '127.0.0.1';
let lastState: ContractStateJson | undefined;

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
  text(404, '');
});
server.listen(webPort, hostIp, () => log('INFO', 'mpc_node::web', `web server listening on ${hostIp}:${webPort}`));
server.on('error', (e) => fatal(`TCP bind: ${e.message}`));

// --- chain access -------------------------------------------------------------------------------
const pollMs = Number(env.TWIN_POLL_MS ?? 500);
const backoffMax = Number(env.TWIN_ATTESTATION_BACKOFF_MAX_MS ?? 60_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const chain = createChainClient({
  rpcUrl: env.TWIN_NEAR_RPC_URL ?? 'http://127.0.0.1:3030',
  accountId,
  contractId,
  signerKey: secrets!.near_signer_key,
  signerPublicKey: signerPublic as string,
  lagBlocks: Number(env.TWIN_INDEXER_LAG_BLOCKS ?? 0),
  metrics,
  log,
});

/** Ask the twin's network whether the security groups let this instance reach each target. */
async function reach(targets: { host: string; port: number }[]): Promise<boolean[]> {
  if (!env.TWIN_NETWORK_URL || !env.TWIN_INSTANCE_ID) return targets.map(() => true);
  const res = await fetch(env.TWIN_NETWORK_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instanceId: env.TWIN_INSTANCE_ID, targets }),
    signal: AbortSignal.timeout(5000),
  });
  return ((await res.json()) as { allowed: boolean[] }).allowed;
}

// --- attestation (awaited before the coordinator starts) --------------------------------------
async function submitAttestation() {
  let delay = 100;
  for (;;) {
    try {
      await chain.send('submit_participant_info', {
        proposed_participant_attestation: { Mock: 'Valid' },
        tls_public_key: p2pPublic,
      });
      const att = await chain.view('get_attestation', { tls_public_key: p2pPublic });
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
const coordinator = createCoordinator({
  accountId,
  p2pPublicKey: p2pPublic as string,
  hostIp,
  portOverride: typeof portOverride === 'number' ? portOverride : undefined,
  home,
  pollMs,
  connectTimeoutMs: Number(env.TWIN_P2P_CONNECT_TIMEOUT_MS ?? 10_000),
  chain,
  metrics,
  log,
  reach,
  onState: (s) => {
    lastState = s;
  },
});

async function main() {
  // Block until the chain view is synced and the contract state is readable.
  for (;;) {
    try {
      if (!(await chain.syncing()) && (await chain.refresh()) !== undefined) break;
    } catch (e) {
      log('ERROR', 'mpc_node::indexer', `error reading config from chain: ${(e as Error).message}`);
    }
    await sleep(1000);
  }
  lastState = chain.current()?.state;
  await submitAttestation();
  await coordinator.run();
}

process.on('SIGTERM', () => {
  coordinator.stop();
  server.close();
  process.exit(0);
});
main().catch((e) => fatal((e as Error).message));
