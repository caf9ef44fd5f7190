/**
 * startTwin(): the embedded Layer 3 — a NEAR localnet with v1.signer.localnet, an AWS endpoint
 * (Secrets Manager, SSM, CloudFormation, STS) and one EC2-like instance per MPC node whose
 * `mpc-node` container runs the twin's node program — built from a scenario file.
 *
 * The returned `env` is what an operator would put in `.env` for a real deployment; the runbook
 * reaches the twin only through it.
 *
 * The network follows the scenario (`network`): participant URLs on chain are
 * `http://<privateIp>:<participantPort>`, the nodes' config.yaml may carry `indexer.port_override`,
 * and the MPC security group's ingress rules decide which instance reaches which port of another.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash, randomInt } from 'node:crypto';
import { createServer } from 'node:net';
import { createChain, type Chain } from './near/chain.ts';
import { startNearRpc, type NearRpcServer } from './near/rpc.ts';
import { createMpcContract, type MpcContract } from './contract/mpc-contract.ts';
import { createOtherContract } from './contract/other-contract.ts';
import { configureAwsFaults, startAwsEndpoint, type AwsEndpoint } from './aws/server.ts';
import { cdkOutputKey } from './aws/cloudformation.ts';
import { createFleet, type Fleet, type IngressRule } from './instances/fleet.ts';
import {
  manifestFor,
  resolveScenario,
  shapeSecretValue,
  type ResolvedNode,
  type ResolvedScenario,
  type Scenario,
} from './scenario.ts';

export const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CONTRACT_ID = 'v1.signer.localnet';
export const MPC_STACK_NAME = 'MpcStandaloneStack';
export const NEAR_STACK_NAME = 'near-localnet-infrastructure';
export const NODE_IMAGE = 'nearone/mpc-node:3.2.0';
const AWS_ACCOUNT_ID = '111122223333';
const HOST_V8_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size'];
const AWS_REGION = 'us-east-1';
/** The methods the node sends (mpc-facts §3.5); used when a scenario grants FunctionCall keys. */
const NODE_METHODS = [
  'respond',
  'respond_ckd',
  'vote_pk',
  'start_keygen_instance',
  'vote_reshared',
  'start_reshare_instance',
  'vote_abort_key_event_instance',
  'verify_tee',
  'submit_participant_info',
];

export interface StartTwinOptions {
  scenario: string | Scenario;
  /** Override the scenario's block time (tests use ~100 ms). */
  blockTimeMs?: number;
  nodes?: number;
  keyEventTimeoutBlocks?: number;
  /** 0/undefined = any free port; `npm run twin` asks for 3030. */
  rpcPort?: number;
  awsPort?: number;
  workDir?: string;
  /** Wait until the contract is Running before returning (default: scenario.contract === 'running'). */
  waitForRunning?: boolean;
  runningTimeoutMs?: number;
  /** Seconds between the bootstrap's secret polls (UserData uses 10). */
  secretPollSeconds?: number;
  log?: (line: string) => void;
}

export interface TwinNode {
  index: number;
  accountId: string;
  instanceId: string;
  privateIp: string;
  dataDir: string;
  /** The participant URL on chain. */
  participantUrl: string;
  /** The port its P2P listener binds and its peers dial (port_override when set, else the URL's). */
  p2pPort: number;
}

/** The twin's network as the scenario set it up. */
export interface TwinNetwork {
  participantPort: number;
  /** config.yaml `indexer.port_override` on every node, if any. */
  portOverride: number | undefined;
  /** The web UI port of every node (config.yaml `web_ui.port`, as the CDK writes it). */
  webUiPort: number;
  /** Security group name -> ingress rules (live: `fleet.setIngress` changes them). The nodes are in `mpc`. */
  securityGroups: () => Record<string, IngressRule[]>;
  /** The NEAR base address the MPC security group names (its previous one when it was redeployed since). */
  nearBaseAddressInRules: string;
}

export interface Twin {
  scenario: ResolvedScenario;
  /** What `npm run twin` exports: point the runbook, the AWS CLI or near-api-js here. */
  env: Record<string, string>;
  rpcUrl: string;
  awsUrl: string;
  manifestPath: string;
  workDir: string;
  contractId: string;
  nodes: TwinNode[];
  nearBase: { instanceId: string; privateIp: string };
  network: TwinNetwork;
  chain: Chain;
  contract: MpcContract;
  rpc: NearRpcServer;
  aws: AwsEndpoint;
  fleet: Fleet;
  /** Resolves once the contract reports Running (rejects after timeoutMs). */
  waitForRunning(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function instanceIdFor(seed: string, label: string): string {
  return `i-${createHash('sha256').update(`${seed}|${label}`).digest('hex').slice(0, 17)}`;
}

async function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = createServer();
    s.once('error', () => ok(false));
    s.listen(port, host, () => s.close(() => ok(true)));
  });
}

const WEB_UI_PORT = 8080;
/** The MPC instances' security group (CDK `MpcSecurityGroup`). */
const MPC_SG = 'mpc';

/** A random 127.A.B.0/24 block whose node addresses can serve the web UI and P2P ports. */
async function allocateAddressBlock(nodes: number, ports: number[]): Promise<string> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const block = `127.${randomInt(64, 250)}.${randomInt(0, 255)}`;
    const hosts = [...new Set([0, Math.floor(nodes / 2), nodes - 1])].map((i) => `${block}.${10 + i}`);
    const probes = await Promise.all(hosts.flatMap((h) => [...new Set(ports)].map((p) => canBind(h, p))));
    if (probes.every(Boolean)) return block;
  }
  throw new Error(`no free 127.x.y.0/24 block with ports ${ports.join(', ')} available for the twin instances`);
}

/** Addresses, participant URLs and security-group rules from the scenario's `network`. */
// --- scenario.deployment: the failure modes of issue 14 -----------------------------------------------

/** The contract setup calls a scenario's deployment never made: init and/or every node's vote_add_domains. */
function skipsSetupCall(scenario: ResolvedScenario, method: string): boolean {
  const reached = scenario.deployment.contract;
  if (reached === 'initialised') return false;
  return method === 'vote_add_domains' || reached !== 'no-domains';
}

/**
 * What the scenario's deployment did differently from the CDK + mpc-setup.ts flow, applied to the chain
 * before its first block: the contract account's code, node account balances and key permissions.
 */
function applyDeployment(chain: Chain, scenario: ResolvedScenario) {
  const d = scenario.deployment;
  if (d.contract === 'no-code') chain.removeContract(CONTRACT_ID);
  if (d.contract === 'other-code') chain.deployContract(CONTRACT_ID, createOtherContract());
  for (const [index, o] of Object.entries(d.nodes)) {
    const n = scenario.nodeList[Number(index)];
    if (!n) continue;
    if (o.balance !== undefined) chain.setBalance(n.accountId, BigInt(o.balance));
    const fc = o.functionCallKey;
    if (fc && n.account.chain) {
      chain.setKeyPermission(n.accountId, n.account.chain.publicKey, {
        FunctionCall: {
          receiver_id: fc.receiverId ?? CONTRACT_ID,
          method_names: fc.methodNames ?? NODE_METHODS,
          allowance: fc.allowance ?? null,
        },
      });
    }
  }
}

function planNetwork(scenario: ResolvedScenario, block: string) {
  const net = scenario.network;
  const nodeIp = (i: number) => `${block}.${10 + i}`;
  const nearBaseIp = `${block}.2`;
  // A NEAR base redeployed after the MPC stack had another address when the MPC rules were written.
  const nearBaseAddressInRules = net.nearBaseRedeployedSinceMpcDeploy ? `${block}.3` : nearBaseIp;
  const rules: IngressRule[] = net.mpcIngress.map((r) => ({
    protocol: 'tcp',
    port: r.port,
    source: r.from === 'mpc' ? { securityGroup: MPC_SG } : { cidr: `${nearBaseAddressInRules}/32` },
    ...(r.description ? { description: r.description } : {}),
  }));
  return {
    nodeIp,
    nearBaseIp,
    nearBaseAddressInRules,
    securityGroups: { [MPC_SG]: rules },
    participantUrl: (i: number) => `http://${nodeIp(i)}:${net.participantPort}`,
    p2pPort: net.portOverride ?? net.participantPort,
  };
}
type NetworkPlan = ReturnType<typeof planNetwork>;

type Stoppers = (() => Promise<void> | void)[];

/** The chain, its accounts and v1.signer.localnet after init + vote_add_domains; the RPC endpoints. */
async function setupNear(scenario: ResolvedScenario, plan: NetworkPlan, stoppers: Stoppers, rpcPort?: number) {
  const chain = createChain({ chainId: 'localnet', blockTimeMs: scenario.blockTimeMs });
  chain.createAccount('localnet', { balance: 10n ** 33n });
  chain.createAccount('signer.localnet', { balance: 100n * 10n ** 24n });
  chain.createAccount('test.localnet', { balance: 100n * 10n ** 24n });
  chain.createAccount(CONTRACT_ID, { balance: 50n * 10n ** 24n });
  for (const n of scenario.nodeList) {
    const chainKey = n.account.chain;
    const permission =
      scenario.accountKeyPermission === 'FullAccess'
        ? ('FullAccess' as const)
        : { FunctionCall: { receiver_id: CONTRACT_ID, method_names: NODE_METHODS, allowance: null } };
    chain.createAccount(n.accountId, {
      balance: 10n * 10n ** 24n,
      keys: chainKey ? [{ publicKey: chainKey.publicKey, permission }] : [],
    });
  }
  const contract = createMpcContract();
  chain.deployContract(CONTRACT_ID, contract);

  // init + vote_add_domains, as the user's mpc-setup.ts does (signed by master, then by each node).
  const participants = scenario.nodeList.map((n) => [
    n.accountId,
    n.index,
    { url: plan.participantUrl(n.index), sign_pk: n.p2p.chain!.publicKey },
  ]);
  const setupCall = (method: string, args: unknown, signerId: string, signerPublicKey: string) => {
    if (skipsSetupCall(scenario, method)) return; // scenario.deployment: this setup stopped earlier
    const out = contract.call(method, args, {
      contractId: CONTRACT_ID,
      blockHeight: chain.head.height,
      signerId,
      signerPublicKey,
      predecessorId: signerId,
      attachedDeposit: 0n,
      prepaidGas: 300n * 10n ** 12n,
    });
    if (!out.ok) throw new Error(`twin setup: ${method} by ${signerId} failed: ${JSON.stringify(out.error)}`);
  };
  const noKey = 'ed25519:11111111111111111111111111111111';
  setupCall(
    'init',
    {
      parameters: { participants: { next_id: scenario.nodes, participants }, threshold: scenario.threshold },
      init_config: { key_event_timeout_blocks: scenario.keyEventTimeoutBlocks },
    },
    'localnet',
    noKey,
  );
  for (const n of scenario.nodeList) {
    // init pre-populates an attestation for every participant's sign_pk; the scenario may leave one out.
    if (n.faults.attestation === 'missing') contract.dropAttestation(n.p2p.chain!.publicKey);
    const domains = { domains: [{ id: 0, scheme: 'Secp256k1' }] };
    setupCall('vote_add_domains', domains, n.accountId, n.account.chain?.publicKey ?? noKey);
  }
  applyDeployment(chain, scenario);
  chain.start();
  stoppers.push(() => chain.stop());
  const rpc = await startNearRpc({ chain, port: rpcPort ?? 0 });
  stoppers.push(() => rpc.stop());
  // The nodes' own view of the chain (their embedded nearcore) is a separate endpoint, so the
  // operator-facing RPC counts only what the runbook and other clients ask.
  const nodeRpc = await startNearRpc({ chain });
  stoppers.push(() => nodeRpc.stop());
  if (scenario.faults.rpc?.latencyMs) rpc.faults.latencyMs = scenario.faults.rpc.latencyMs;
  return { chain, contract, rpc, nodeRpc };
}

const credentials = {
  accessKeyId: 'AKIATWINEXAMPLE00000',
  secretAccessKey: 'twin-secret-access-key-not-a-real-one',
};

/** The AWS endpoint with both stacks' outputs; instances are served by the fleet once it exists. */
async function startAws(
  scenario: ResolvedScenario,
  nodes: TwinNode[],
  nearBase: { instanceId: string; privateIp: string },
  fleet: () => Fleet | undefined,
  port?: number,
) {
  const nodeOutputs = (n: TwinNode) =>
    (['InstanceId', 'PrivateIp', 'AccountId'] as const).map((what) => ({
      key: cdkOutputKey(['MpcNetwork', `Node${n.index}${what}`]),
      value: what === 'InstanceId' ? n.instanceId : what === 'PrivateIp' ? n.privateIp : n.accountId,
      exportName: `MpcNode${n.index}${what}`,
    }));
  const aws = await startAwsEndpoint({
    accountId: AWS_ACCOUNT_ID,
    region: AWS_REGION,
    port: port ?? 0,
    instances: {
      describe: () => fleet()?.describe() ?? [],
      info: (id) => fleet()?.info?.(id),
      run: (id, commands, o) => {
        const f = fleet();
        if (!f) throw new Error('instances are not up yet');
        return f.run(id, commands, o);
      },
      setPing: (id, ping) => fleet()?.setPing(id, ping),
    },
    stacks: [
      {
        stackName: MPC_STACK_NAME,
        outputs: [
          { key: 'VpcId', value: 'vpc-0twin0000000000001', exportName: 'MpcVpcId' },
          ...nodes.flatMap(nodeOutputs),
        ],
      },
      {
        stackName: NEAR_STACK_NAME,
        outputs: [
          { key: 'nearinstanceid', value: nearBase.instanceId },
          { key: 'nearinstanceprivateip', value: nearBase.privateIp },
          { key: 'VpcId', value: 'vpc-0twin0000000000001' },
        ],
      },
    ],
  });
  if (scenario.faults.aws) configureAwsFaults(aws.faults, scenario.faults.aws);
  return aws;
}

const secretNames = (i: number) => ({
  account: `mpc-node-${i}-mpc_account_sk`,
  p2p: `mpc-node-${i}-mpc_p2p_private_key`,
  store: `mpc-node-${i}-mpc_secret_store_key`,
});

/** The instances, their secrets, the first boot of every node (UserData), then what the scenario breaks. */
async function bootFleet(
  ctx: {
    scenario: ResolvedScenario;
    plan: NetworkPlan;
    nodes: TwinNode[];
    nearBase: { instanceId: string; privateIp: string };
    aws: AwsEndpoint;
    nodeRpcUrl: string;
    workDir: string;
    secretPollSeconds?: number;
    log: (line: string) => void;
  },
  stoppers: Stoppers,
) {
  const { scenario, nodes, aws } = ctx;
  const fleet = await createFleet({
    rootDir: join(ctx.workDir, 'instances'),
    repoDir: REPO_DIR,
    awsEndpointUrl: aws.url,
    region: AWS_REGION,
    credentials,
    images: {
      [NODE_IMAGE]: {
        command: [process.execPath, join(REPO_DIR, 'twin', 'node', 'main.ts')],
        // Many nodes to a host process, each behind a container process of its own (node-hosts.ts). A small
        // young generation and V8's size-over-speed tuning keep the host near 100 MB for a handful of nodes.
        hosted: {
          host: [process.execPath, ...HOST_V8_FLAGS, join(REPO_DIR, 'twin', 'node', 'host.ts')],
          hostEnv: { NODE_COMPILE_CACHE: join(REPO_DIR, 'node_modules', '.cache', 'node-compile-cache') },
        },
      },
    },
    containerEnv: {
      TWIN_NEAR_RPC_URL: ctx.nodeRpcUrl,
      TWIN_POLL_MS: String(Math.max(50, Math.min(500, scenario.blockTimeMs))),
      TWIN_ATTESTATION_BACKOFF_MAX_MS: String(Math.max(1000, 2 * scenario.blockTimeMs)),
      // How long a dial the security groups drop hangs (stands for the kernel's SYN retries).
      TWIN_P2P_CONNECT_TIMEOUT_MS: String(Math.max(1000, Math.min(10_000, 5 * scenario.blockTimeMs))),
    },
    network: { securityGroups: ctx.plan.securityGroups },
  });
  stoppers.push(() => fleet.stopAll());
  fleet.prewarmHosts();
  fleet.addInstance({ ...ctx.nearBase, role: 'near-base', name: 'near-localnet' });
  for (const n of nodes) {
    const lag = scenario.nodeList[n.index]!.faults.indexerLagBlocks;
    const inst = fleet.addInstance({
      instanceId: n.instanceId,
      privateIp: n.privateIp,
      role: 'mpc-node',
      name: `mpc-node-${n.index}`,
      securityGroups: [MPC_SG],
      containerEnv: lag ? { TWIN_INDEXER_LAG_BLOCKS: String(lag) } : {},
    });
    n.dataDir = inst.dataDir;
  }

  // Secrets as the nodes were booted with them; the scenario's current values land afterwards as
  // new versions (so AWSPREVIOUS holds what the nodes were booted with, as in real life).
  for (const n of scenario.nodeList) {
    const names = secretNames(n.index);
    const bootAccount = n.account.node ?? n.account.secretsManager;
    const bootP2p = n.p2p.node ?? n.p2p.secretsManager;
    aws.secrets.create(names.account, bootAccount ? bootAccount.secretKey : 'PLACEHOLDER_REPLACE_WITH_REAL_KEY');
    aws.secrets.create(names.p2p, bootP2p ? bootP2p.secretKey : 'PLACEHOLDER_REPLACE_WITH_REAL_KEY');
    aws.secrets.create(names.store, n.secretStoreKey);
  }

  // First boot: the node's secrets.json is what it was booted with (written by the bootstrap).
  const up = await Promise.all(scenario.nodeList.map((n) => firstBoot(fleet, ctx, n)));
  for (const n of scenario.nodeList) afterBoot(fleet, aws, nodes[n.index]!, n);
  // A deployed Layer 3 has its nodes up: wait until each node that runs serves its web UI.
  await webUiUp(
    nodes.filter((_, i) => up[i]),
    Math.max(30_000, nodes.length * 1_000),
    ctx.log,
  );
  return fleet;
}

async function webUiUp(nodes: TwinNode[], timeoutMs: number, log: (line: string) => void) {
  const deadline = Date.now() + timeoutMs;
  const answers = (n: TwinNode) =>
    fetch(`http://${n.privateIp}:${WEB_UI_PORT}/health`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
  let waiting = nodes;
  while (waiting.length > 0 && Date.now() < deadline) {
    const ok = await Promise.all(waiting.map(answers));
    waiting = waiting.filter((_, i) => !ok[i]);
    if (waiting.length) await new Promise((r) => setTimeout(r, 100));
  }
  for (const n of waiting) log(`${n.accountId}: web UI not answering after ${timeoutMs} ms`);
}

async function firstBoot(
  fleet: Fleet,
  ctx: {
    nodes: TwinNode[];
    scenario: ResolvedScenario;
    secretPollSeconds?: number;
    log: (line: string) => void;
  },
  n: ResolvedNode,
) {
  const node = ctx.nodes[n.index]!;
  const portOverride = ctx.scenario.network.portOverride;
  const result = await fleet.bootstrap(node.instanceId, {
    NODE_INDEX: String(n.index),
    REGION: AWS_REGION,
    MPC_CONTRACT_ID: CONTRACT_ID,
    MPC_ACCOUNT_ID: n.accountId,
    IMAGE: NODE_IMAGE,
    SECRET_POLL_SECONDS: String(ctx.secretPollSeconds ?? 1),
    SECRET_POLL_COUNT: '3',
    ...(portOverride ? { PORT_OVERRIDE: String(portOverride) } : {}),
  });
  if (result.exitCode !== 0) ctx.log(`bootstrap of ${n.accountId} exited ${result.exitCode}`);
  // A node whose container the scenario stops: `docker stop mpc-node` right after its first boot.
  if (n.faults.container === 'stopped') await fleet.docker(node.instanceId, ['stop', 'mpc-node']);
  return result.exitCode === 0 && n.faults.container !== 'stopped';
}

/** The scenario's current Secrets Manager values (new versions) and SSM agent state. */
function afterBoot(fleet: Fleet, aws: AwsEndpoint, node: TwinNode, n: ResolvedNode) {
  const names = secretNames(n.index);
  const current = (key: { secretKey: string } | undefined, role: 'account' | 'p2p') =>
    key ? shapeSecretValue(key.secretKey, n.secretShapes[role]) : 'PLACEHOLDER_REPLACE_WITH_REAL_KEY';
  const bootAccount = (n.account.node ?? n.account.secretsManager)?.secretKey;
  const bootP2p = (n.p2p.node ?? n.p2p.secretsManager)?.secretKey;
  const account = current(n.account.secretsManager, 'account');
  const p2p = current(n.p2p.secretsManager, 'p2p');
  if (account !== bootAccount) aws.secrets.put(names.account, account);
  if (p2p !== bootP2p) aws.secrets.put(names.p2p, p2p);
  if (n.ping === 'ConnectionLost') fleet.setPing(node.instanceId, 'ConnectionLost');
}

/** What `npm run twin` prints and the runbook reads: the same variables a real deployment's .env holds. */
function twinEnv(rpcUrl: string, awsUrl: string, manifestPath: string): Record<string, string> {
  return {
    RUNBOOK_TARGET: 'aws',
    NEAR_RPC_URL: rpcUrl,
    MPC_CONTRACT_ID: CONTRACT_ID,
    AWS_ENDPOINT_URL: awsUrl,
    AWS_REGION,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    MPC_KEYS_FILE: manifestPath,
    MPC_STACK_NAME,
    NEAR_STACK_NAME,
    EXPECTED_AWS_ACCOUNT_ID: AWS_ACCOUNT_ID,
    EXPECTED_AWS_REGION: AWS_REGION,
  };
}

function runningWaiter(contract: MpcContract, chain: Chain, blockTimeMs: number) {
  return async (timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const out = contract.view('state', {}, { contractId: CONTRACT_ID, blockHeight: chain.head.height });
      if (out.ok && typeof out.value === 'object' && out.value !== null && 'Running' in out.value) {
        const running = (out.value as { Running: { keyset: { domains: unknown[] } } }).Running;
        if (running.keyset.domains.length > 0) return;
      }
      await new Promise((r) => setTimeout(r, Math.min(200, blockTimeMs)));
    }
    throw new Error(`the twin's contract did not reach Running within ${timeoutMs} ms`);
  };
}

export async function startTwin(opts: StartTwinOptions): Promise<Twin> {
  const log = opts.log ?? (() => {});
  const scenario = resolveScenario(opts.scenario, {
    ...(opts.nodes !== undefined ? { nodes: opts.nodes } : {}),
    ...(opts.blockTimeMs !== undefined ? { blockTimeMs: opts.blockTimeMs } : {}),
    ...(opts.keyEventTimeoutBlocks !== undefined ? { keyEventTimeoutBlocks: opts.keyEventTimeoutBlocks } : {}),
  });
  const ownsWorkDir = !opts.workDir;
  const workDir = opts.workDir ?? mkdtempSync(join(tmpdir(), `mpc-twin-${scenario.name}-`));
  mkdirSync(workDir, { recursive: true });
  const stoppers: Stoppers = [];
  const stop = async () => {
    for (const s of stoppers.reverse()) {
      try {
        await s();
      } catch {
        /* keep stopping the rest */
      }
    }
    stoppers.length = 0;
    if (ownsWorkDir) rmSync(workDir, { recursive: true, force: true });
  };

  try {
    const p2pPort = scenario.network.portOverride ?? scenario.network.participantPort;
    const plan = planNetwork(scenario, await allocateAddressBlock(scenario.nodes, [WEB_UI_PORT, p2pPort]));
    const { chain, contract, rpc, nodeRpc } = await setupNear(scenario, plan, stoppers, opts.rpcPort);
    const nodes: TwinNode[] = scenario.nodeList.map((n) => ({
      index: n.index,
      accountId: n.accountId,
      instanceId: instanceIdFor(scenario.seed, `node-${n.index}`),
      privateIp: plan.nodeIp(n.index),
      dataDir: '',
      participantUrl: plan.participantUrl(n.index),
      p2pPort: plan.p2pPort,
    }));
    const nearBase = { instanceId: instanceIdFor(scenario.seed, 'near-base'), privateIp: plan.nearBaseIp };
    let fleetRef: Fleet | undefined;
    const aws = await startAws(scenario, nodes, nearBase, () => fleetRef, opts.awsPort);
    stoppers.push(() => aws.stop());
    const fleetCtx = { scenario, plan, nodes, nearBase, aws, nodeRpcUrl: nodeRpc.url, workDir, log };
    const fleet = await bootFleet(
      { ...fleetCtx, ...(opts.secretPollSeconds !== undefined ? { secretPollSeconds: opts.secretPollSeconds } : {}) },
      stoppers,
    );
    fleetRef = fleet;

    const manifestPath = join(workDir, 'mpc-node-keys.json');
    writeFileSync(manifestPath, `${JSON.stringify(manifestFor(scenario), null, 2)}\n`, { mode: 0o600 });
    const waitForRunning = runningWaiter(contract, chain, scenario.blockTimeMs);
    const twin: Twin = {
      scenario,
      env: twinEnv(rpc.url, aws.url, manifestPath),
      rpcUrl: rpc.url,
      awsUrl: aws.url,
      manifestPath,
      workDir,
      contractId: CONTRACT_ID,
      nodes,
      nearBase,
      network: {
        participantPort: scenario.network.participantPort,
        portOverride: scenario.network.portOverride,
        webUiPort: WEB_UI_PORT,
        securityGroups: () => fleet.securityGroups(),
        nearBaseAddressInRules: plan.nearBaseAddressInRules,
      },
      chain,
      contract,
      rpc,
      aws,
      fleet,
      waitForRunning,
      stop,
    };
    if (opts.waitForRunning ?? scenario.contract === 'running') {
      await waitForRunning(opts.runningTimeoutMs ?? Math.max(60_000, scenario.nodes * 2_000));
    }
    return twin;
  } catch (e) {
    await stop();
    throw e;
  }
}
