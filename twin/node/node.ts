/**
 * The twin's MPC node: what the image `nearone/mpc-node:*` runs (`mpc-node start local`). It reads its
 * home dir like the real node (config.yaml, secrets.json — generated only when missing), serves the real
 * HTTP endpoints, follows the contract through the RPC, submits its attestation and takes part in keygen
 * — every transaction signed with its own key, so a key that is not on its account fails exactly as on
 * the real Layer 3. Its P2P mesh has its own listener (twin/node/p2p.ts), on the port of its participant
 * URL, apart from the web UI.
 *
 * One node is one call of `startMpcNode` with what a process has: its argv, its environment, its
 * stdout/stderr and a way to exit. `main.ts` runs one as an OS process; `host.ts` runs many in one
 * process, each behind a container process of its own (twin/instances/node-hosts.ts). Everything a node
 * holds (servers, sockets, timers, keygen shares) belongs to that call: `stop` is its SIGTERM (the
 * coordinator stops, the web server closes, exit 0), `kill` its SIGKILL.
 *
 * Twin facts from the container runtime: TWIN_HOST_IP (the instance address it binds), TWIN_NEAR_RPC_URL
 * (its embedded nearcore's view of the chain), TWIN_INSTANCE_ID + TWIN_NETWORK_URL (whom to ask whether the
 * security groups let a dial through), TWIN_INDEXER_LAG_BLOCKS (how far its chain view lags the head).
 */
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { base58 } from '@scure/base';
import { ed25519PublicKey } from '../ed25519.ts';
import { createChainClient } from './chain-client.ts';
import { createCoordinator } from './coordinator.ts';
import { describeContract, interruptibleSleep, validateNodeKey, type ContractStateJson } from './node-logic.ts';
import { formatLog, Metrics } from './telemetry.ts';

export interface NodeIo {
  /** The arguments after the program (`start local`). */
  argv: string[];
  env: Record<string, string | undefined>;
  write(stream: 'stdout' | 'stderr', text: string): void;
  /** The node ended by itself (a fatal error) with this exit code; nothing of it runs any more. */
  exit(code: number): void;
}

export interface RunningNode {
  /** SIGTERM: the node's own shutdown; resolves once its listeners are closed. */
  stop(): Promise<void>;
  /** SIGKILL: every listener and connection closed at once. */
  kill(): Promise<void>;
}

type Level = 'INFO' | 'WARN' | 'ERROR';
export type NodeLog = (level: Level, target: string, msg: string, fields?: Record<string, unknown>) => void;

/** A fatal error: the node prints `Error: …` on stderr and exits 1. */
class Fatal extends Error {}

interface NodeConfig {
  my_near_account_id: string;
  web_ui?: { host?: string; port?: number };
  indexer?: { mpc_contract_id?: string; port_override?: number };
}

interface Home {
  accountId: string;
  contractId: string;
  webPort: number;
  portOverride: number | undefined;
  signerKey: string;
  signerPublic: string;
  p2pPublic: string;
  responderPublics: string[];
}

function generateKey(): string {
  const seed = randomBytes(32);
  return `ed25519:${base58.encode(Uint8Array.from([...seed, ...ed25519PublicKey(seed)]))}`;
}

/** config.yaml and secrets.json, read at start as the real node reads them (secrets generated when missing). */
function readHome(home: string, log: NodeLog): Home {
  const configPath = join(home, 'config.yaml');
  if (!existsSync(configPath))
    throw new Fatal(`failed to read config file ${configPath}: No such file or directory (os error 2)`);
  let config: NodeConfig;
  try {
    config = parseYaml(readFileSync(configPath, 'utf8')) as NodeConfig;
    if (typeof config?.my_near_account_id !== 'string') throw new Error('missing field `my_near_account_id`');
  } catch (e) {
    throw new Fatal(`failed to parse config file ${configPath}: ${(e as Error).message.split('\n')[0]}`);
  }
  const secretsPath = join(home, 'secrets.json');
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
    throw new Fatal(`failed to parse ${secretsPath}: ${(e as Error).message.replace(/"[^"]*"/g, '"…"')}`);
  }
  const publicOf = (k: unknown) => {
    const r = validateNodeKey(k);
    if (typeof r !== 'string') throw new Fatal(r.error);
    return r;
  };
  const signerPublic = publicOf(secrets.near_signer_key);
  const p2pPublic = publicOf(secrets.p2p_private_key);
  const portOverride = config.indexer?.port_override;
  return {
    accountId: config.my_near_account_id,
    contractId: config.indexer?.mpc_contract_id ?? 'v1.signer.localnet',
    webPort: config.web_ui?.port ?? 8080,
    portOverride: typeof portOverride === 'number' ? portOverride : undefined,
    signerKey: secrets.near_signer_key,
    signerPublic,
    p2pPublic,
    responderPublics: (secrets.near_responder_keys ?? []).map(publicOf),
  };
}

/** The web UI: /health, /public_data, /metrics, /debug/contract. */
function webServer(h: Home, metrics: Metrics, lastState: () => ContractStateJson | undefined): Server {
  return createServer((req, res) => {
    const url = req.url ?? '/';
    const text = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (url === '/health') return text(200, 'OK');
    if (url === '/public_data') {
      const data = {
        near_signer_public_key: h.signerPublic,
        near_p2p_public_key: h.p2pPublic,
        near_responder_public_keys: h.responderPublics,
        tee_participant_info: { Mock: 'Valid' },
      };
      return text(200, JSON.stringify(data), 'application/json');
    }
    if (url === '/metrics') return text(200, metrics.render());
    if (url === '/debug/contract') return text(200, describeContract(lastState()));
    text(404, '');
  });
}

/** Ask the twin's network whether the security groups let this instance reach each target. */
function reachVia(env: NodeIo['env']) {
  return async (targets: { host: string; port: number }[]): Promise<boolean[]> => {
    if (!env.TWIN_NETWORK_URL || !env.TWIN_INSTANCE_ID) return targets.map(() => true);
    const res = await fetch(env.TWIN_NETWORK_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instanceId: env.TWIN_INSTANCE_ID, targets }),
      signal: AbortSignal.timeout(5000),
    });
    return ((await res.json()) as { allowed: boolean[] }).allowed;
  };
}

export function startMpcNode(io: NodeIo): RunningNode {
  const env = io.env;
  let alive = true;
  /** Sleeps that a stop cuts short (the loops then see `alive` false and end). */
  const { sleep, wakeAll } = interruptibleSleep();
  const write = (stream: 'stdout' | 'stderr', text: string) => alive && io.write(stream, text);
  const log: NodeLog = (level, target, msg, fields = {}) =>
    write('stdout', `${formatLog(level, target, msg, fields)}\n`);

  let server: Server | undefined;
  let stopCoordinator = () => {};
  const shutdown = async (hard: boolean) => {
    if (!alive) return;
    alive = false;
    stopCoordinator();
    wakeAll();
    const s = server;
    if (!s?.listening) return;
    if (hard) s.closeAllConnections();
    await new Promise<void>((ok) => s.close(() => ok()));
  };
  const fatal = (msg: string) => {
    if (!alive) return;
    write('stderr', `Error: ${msg}\n`);
    void shutdown(true).then(() => io.exit(1));
  };

  try {
    if (io.argv[0] !== 'start') throw new Fatal(`unrecognized subcommand '${io.argv[0] ?? ''}'`);
    if (!/^[0-9a-fA-F]{32}$/.test(env.MPC_SECRET_STORE_KEY ?? '')) throw new Fatal('invalid local storage aes key hex');
    const h = readHome(env.MPC_HOME_DIR ?? '/data', log);
    const metrics = new Metrics();
    const hostIp = env.TWIN_HOST_IP ?? '127.0.0.1';
    let lastState: ContractStateJson | undefined;
    server = webServer(h, metrics, () => lastState);
    server.on('error', (e) => fatal(`TCP bind: ${e.message}`));
    server.on('listening', () => alive || server?.close()); // stopped while it was binding
    server.listen(h.webPort, hostIp, () =>
      log('INFO', 'mpc_node::web', `web server listening on ${hostIp}:${h.webPort}`),
    );

    const chain = createChainClient({
      rpcUrl: env.TWIN_NEAR_RPC_URL ?? 'http://127.0.0.1:3030',
      accountId: h.accountId,
      contractId: h.contractId,
      signerKey: h.signerKey,
      signerPublicKey: h.signerPublic,
      lagBlocks: Number(env.TWIN_INDEXER_LAG_BLOCKS ?? 0),
      metrics,
      log,
      alive: () => alive,
    });
    const coordinator = createCoordinator({
      accountId: h.accountId,
      p2pPublicKey: h.p2pPublic,
      hostIp,
      portOverride: h.portOverride,
      home: env.MPC_HOME_DIR ?? '/data',
      pollMs: Number(env.TWIN_POLL_MS ?? 500),
      connectTimeoutMs: Number(env.TWIN_P2P_CONNECT_TIMEOUT_MS ?? 10_000),
      chain,
      metrics,
      log,
      reach: reachVia(env),
      onState: (s) => {
        lastState = s;
      },
    });
    stopCoordinator = coordinator.stop;
    const backoffMax = Number(env.TWIN_ATTESTATION_BACKOFF_MAX_MS ?? 60_000);
    const run = async () => {
      // Block until the chain view is synced and the contract state is readable.
      while (alive) {
        try {
          if (!(await chain.syncing()) && (await chain.refresh()) !== undefined) break;
        } catch (e) {
          log('ERROR', 'mpc_node::indexer', `error reading config from chain: ${(e as Error).message}`);
        }
        await sleep(1000);
      }
      if (!alive) return;
      lastState = chain.current()?.state;
      await submitAttestation(chain, h.p2pPublic, { log, sleep, alive: () => alive, backoffMax });
      if (alive) await coordinator.run();
    };
    run().catch((e) => fatal((e as Error).message));
  } catch (e) {
    if (!(e instanceof Fatal)) throw e;
    fatal(e.message);
  }
  return { stop: () => shutdown(false), kill: () => shutdown(true) };
}

/** The attestation (awaited before the coordinator starts), retried with a growing backoff. */
async function submitAttestation(
  chain: ReturnType<typeof createChainClient>,
  p2pPublic: string,
  o: { log: NodeLog; sleep: (ms: number) => Promise<void>; alive: () => boolean; backoffMax: number },
) {
  let delay = 100;
  while (o.alive()) {
    try {
      await chain.send('submit_participant_info', {
        proposed_participant_attestation: { Mock: 'Valid' },
        tls_public_key: p2pPublic,
      });
      const att = await chain.view('get_attestation', { tls_public_key: p2pPublic });
      if (JSON.stringify(att) === JSON.stringify({ Mock: 'Valid' })) {
        o.log('INFO', 'mpc_node::tee', 'successfully submitted attestation');
        return;
      }
      throw new Error('attestation not visible on chain');
    } catch (e) {
      if (!o.alive()) return;
      o.log('WARN', 'mpc_node::tee', 'failed to submit attestation', {
        cause: (e as Error).message,
        backoff_duration: `${(delay / 1000).toFixed(3)}s`,
      });
      await o.sleep(delay);
      delay = Math.min(o.backoffMax, Math.ceil(delay * 1.5));
    }
  }
}
