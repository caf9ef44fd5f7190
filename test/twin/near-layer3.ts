/** Shared helpers for twin tests: a NEAR-only Layer 3 with node processes started directly. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomInt } from 'node:crypto';
import { createChain } from '../../twin/near/chain.ts';
import { startNearRpc } from '../../twin/near/rpc.ts';
import { createMpcContract } from '../../twin/contract/mpc-contract.ts';
import { resolveScenario } from '../../twin/scenario.ts';

export const NODE_PROGRAM = resolve(import.meta.dirname, '..', '..', 'twin', 'node', 'main.ts');

export interface NodeProc {
  index: number;
  accountId: string;
  ip: string;
  dir: string;
  proc: ChildProcess;
  output: string[];
}

/**
 * Chain + RPC + contract (Initializing) for a scenario, and a way to run node processes against it.
 * The nodes' web UI listens on `port`; their participant URLs name `p2pPort` (default: another port;
 * `'web'`: the web UI's own port, the user's collision).
 */
export async function nearLayer3(
  scenarioName: string,
  o: { blockTimeMs: number; keyEventTimeoutBlocks: number; p2pPort?: number | 'web' },
) {
  const scenario = resolveScenario(scenarioName, {
    blockTimeMs: o.blockTimeMs,
    keyEventTimeoutBlocks: o.keyEventTimeoutBlocks,
  });
  const chain = createChain({ blockTimeMs: o.blockTimeMs });
  const contract = createMpcContract();
  const block = `127.${randomInt(64, 250)}.${randomInt(0, 255)}`;
  const port = randomInt(20000, 60000);
  const p2pPort = o.p2pPort === 'web' ? port : (o.p2pPort ?? (port === 60000 ? port - 1 : port + 1));
  chain.createAccount('localnet', { balance: 10n ** 30n });
  chain.createAccount('v1.signer.localnet', { balance: 10n ** 26n });
  for (const n of scenario.nodeList) {
    chain.createAccount(n.accountId, {
      balance: 10n ** 25n,
      keys: [{ publicKey: n.account.chain!.publicKey, permission: 'FullAccess' }],
    });
  }
  chain.deployContract('v1.signer.localnet', contract);
  const ctx = (signerId: string, signerPublicKey: string) => ({
    contractId: 'v1.signer.localnet',
    blockHeight: chain.head.height,
    signerId,
    signerPublicKey,
    predecessorId: signerId,
    attachedDeposit: 0n,
    prepaidGas: 3n * 10n ** 14n,
  });
  const participants = scenario.nodeList.map((n) => [
    n.accountId,
    n.index,
    { url: `http://${block}.${10 + n.index}:${p2pPort}`, sign_pk: n.p2p.chain!.publicKey },
  ]);
  const init = contract.call(
    'init',
    {
      parameters: { participants: { next_id: scenario.nodes, participants }, threshold: scenario.threshold },
      init_config: { key_event_timeout_blocks: o.keyEventTimeoutBlocks },
    },
    ctx('localnet', 'ed25519:11111111111111111111111111111111'),
  );
  if (!init.ok) throw new Error(JSON.stringify(init.error));
  for (const n of scenario.nodeList)
    contract.call(
      'vote_add_domains',
      { domains: [{ id: 0, scheme: 'Secp256k1' }] },
      ctx(n.accountId, n.account.chain!.publicKey),
    );
  chain.start();
  const rpc = await startNearRpc({ chain });
  const root = mkdtempSync(join(tmpdir(), 'near-l3-'));
  const nodes: NodeProc[] = [];

  /** The node's home dir: config.yaml (with `indexer.port_override` when given) and secrets.json. */
  function writeHome(i: number, signerKey: string, opts: { portOverride?: number } = {}) {
    const n = scenario.nodeList[i]!;
    const dir = join(root, `node-${i}`);
    mkdirSync(dir, { recursive: true });
    const override = opts.portOverride ? `  port_override: ${opts.portOverride}\n` : '';
    writeFileSync(
      join(dir, 'config.yaml'),
      `my_near_account_id: ${n.accountId}\nweb_ui:\n  host: 0.0.0.0\n  port: ${port}\n` +
        `indexer:\n  mpc_contract_id: v1.signer.localnet\n${override}`,
    );
    writeFileSync(
      join(dir, 'secrets.json'),
      JSON.stringify({
        p2p_private_key: n.p2p.node!.secretKey,
        near_signer_key: signerKey,
        near_responder_keys: [signerKey],
      }),
      { mode: 0o600 },
    );
    return dir;
  }

  function startNode(i: number): NodeProc {
    const n = scenario.nodeList[i]!;
    const dir = join(root, `node-${i}`);
    const proc = spawn(process.execPath, [NODE_PROGRAM, 'start', 'local'], {
      env: {
        ...process.env,
        MPC_HOME_DIR: dir,
        MPC_SECRET_STORE_KEY: n.secretStoreKey,
        TWIN_NEAR_RPC_URL: rpc.url,
        TWIN_HOST_IP: `${block}.${10 + i}`,
        TWIN_POLL_MS: String(o.blockTimeMs),
        TWIN_ATTESTATION_BACKOFF_MAX_MS: '500',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node = { index: i, accountId: n.accountId, ip: `${block}.${10 + i}`, dir, proc, output: [] as string[] };
    proc.stdout!.on('data', (d) => node.output.push(String(d)));
    proc.stderr!.on('data', (d) => node.output.push(String(d)));
    nodes[i] = node;
    return node;
  }

  async function stopNode(i: number) {
    const p = nodes[i]?.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise((ok) => {
      p.once('exit', ok);
      p.kill('SIGTERM');
    });
  }

  const state = () => {
    const out = contract.view('state', {}, { contractId: 'v1.signer.localnet', blockHeight: chain.head.height });
    return out.ok ? (out.value as Record<string, any>) : undefined;
  };

  return {
    scenario,
    chain,
    rpc,
    contract,
    nodes,
    writeHome,
    startNode,
    stopNode,
    state,
    port,
    p2pPort,
    async stop() {
      for (const n of nodes) if (n) await stopNode(n.index);
      chain.stop();
      await rpc.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
