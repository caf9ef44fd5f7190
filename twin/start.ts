/**
 * startTwin(): the embedded Layer 3 — a NEAR localnet with v1.signer.localnet, an AWS endpoint
 * (Secrets Manager, SSM, CloudFormation, STS) and one EC2-like instance per MPC node whose
 * `mpc-node` container runs the twin's node program — built from a scenario file.
 *
 * The returned `env` is what an operator would put in `.env` for a real deployment; the runbook
 * reaches the twin only through it.
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
import { createFleet, type Fleet } from './instances/fleet.ts';
import { manifestFor, resolveScenario, shapeSecretValue, type ResolvedScenario, type Scenario } from './scenario.ts';

export const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CONTRACT_ID = 'v1.signer.localnet';
export const MPC_STACK_NAME = 'MpcStandaloneStack';
export const NEAR_STACK_NAME = 'near-localnet-infrastructure';
export const NODE_IMAGE = 'nearone/mpc-node:3.2.0';
const AWS_ACCOUNT_ID = '111122223333';
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

/** A random 127.A.B.0/24 block whose node addresses can serve :8080. */
async function allocateAddressBlock(nodes: number): Promise<string> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const block = `127.${randomInt(64, 250)}.${randomInt(0, 255)}`;
    const probes = await Promise.all(
      [0, Math.floor(nodes / 2), nodes - 1].map((i) => canBind(`${block}.${10 + i}`, 8080)),
    );
    if (probes.every(Boolean)) return block;
  }
  throw new Error('no free 127.x.y.0/24 block with port 8080 available for the twin instances');
}

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
  const stoppers: (() => Promise<void> | void)[] = [];
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
    // --- NEAR: chain, accounts, contract -------------------------------------------------------
    const chain = createChain({ chainId: 'localnet', blockTimeMs: scenario.blockTimeMs });
    const block = await allocateAddressBlock(scenario.nodes);
    const nodeIp = (i: number) => `${block}.${10 + i}`;
    const nearBaseIp = `${block}.2`;

    chain.createAccount('localnet', { balance: 10n ** 33n });
    chain.createAccount('signer.localnet', { balance: 100n * 10n ** 24n });
    chain.createAccount('test.localnet', { balance: 100n * 10n ** 24n });
    chain.createAccount(CONTRACT_ID, { balance: 50n * 10n ** 24n });
    for (const n of scenario.nodeList) {
      const chainKey = n.account.chain;
      chain.createAccount(n.accountId, {
        balance: 10n * 10n ** 24n,
        keys: chainKey
          ? [
              {
                publicKey: chainKey.publicKey,
                permission:
                  scenario.accountKeyPermission === 'FullAccess'
                    ? 'FullAccess'
                    : { FunctionCall: { receiver_id: CONTRACT_ID, method_names: NODE_METHODS, allowance: null } },
              },
            ]
          : [],
      });
    }
    const contract = createMpcContract();
    chain.deployContract(CONTRACT_ID, contract);

    // init + vote_add_domains, as the user's mpc-setup.ts does (signed by master, then by each node).
    const height = () => chain.head.height;
    const participants = scenario.nodeList.map((n) => [
      n.accountId,
      n.index,
      { url: `http://${nodeIp(n.index)}:8080`, sign_pk: n.p2p.chain!.publicKey },
    ]);
    const setupCall = (method: string, args: unknown, signerId: string, signerPublicKey: string) => {
      if (skipsSetupCall(scenario, method)) return; // scenario.deployment: this setup stopped earlier
      const out = contract.call(method, args, {
        contractId: CONTRACT_ID,
        blockHeight: height(),
        signerId,
        signerPublicKey,
        predecessorId: signerId,
        attachedDeposit: 0n,
        prepaidGas: 300n * 10n ** 12n,
      });
      if (!out.ok) throw new Error(`twin setup: ${method} by ${signerId} failed: ${JSON.stringify(out.error)}`);
    };
    setupCall(
      'init',
      {
        parameters: { participants: { next_id: scenario.nodes, participants }, threshold: scenario.threshold },
        init_config: { key_event_timeout_blocks: scenario.keyEventTimeoutBlocks },
      },
      'localnet',
      'ed25519:11111111111111111111111111111111',
    );
    for (const n of scenario.nodeList) {
      setupCall(
        'vote_add_domains',
        { domains: [{ id: 0, scheme: 'Secp256k1' }] },
        n.accountId,
        n.account.chain?.publicKey ?? 'ed25519:11111111111111111111111111111111',
      );
    }
    applyDeployment(chain, scenario);
    chain.start();
    stoppers.push(() => chain.stop());
    const rpc = await startNearRpc({ chain, port: opts.rpcPort ?? 0 });
    stoppers.push(() => rpc.stop());
    // The nodes' own view of the chain (their embedded nearcore) is a separate endpoint, so the
    // operator-facing RPC counts only what the runbook and other clients ask.
    const nodeRpc = await startNearRpc({ chain });
    stoppers.push(() => nodeRpc.stop());
    if (scenario.faults.rpc?.latencyMs) rpc.faults.latencyMs = scenario.faults.rpc.latencyMs;

    // --- AWS: instances, secrets, stacks ---------------------------------------------------------
    const nodes: TwinNode[] = scenario.nodeList.map((n) => ({
      index: n.index,
      accountId: n.accountId,
      instanceId: instanceIdFor(scenario.seed, `node-${n.index}`),
      privateIp: nodeIp(n.index),
      dataDir: '',
    }));
    const nearBase = { instanceId: instanceIdFor(scenario.seed, 'near-base'), privateIp: nearBaseIp };
    const credentials = {
      accessKeyId: 'AKIATWINEXAMPLE00000',
      secretAccessKey: 'twin-secret-access-key-not-a-real-one',
    };

    let fleetRef: Fleet | undefined;
    const aws = await startAwsEndpoint({
      accountId: AWS_ACCOUNT_ID,
      region: AWS_REGION,
      port: opts.awsPort ?? 0,
      instances: {
        describe: () => fleetRef?.describe() ?? [],
        run: (id, commands, o) => {
          if (!fleetRef) throw new Error('instances are not up yet');
          return fleetRef.run(id, commands, o);
        },
        setPing: (id, ping) => fleetRef?.setPing(id, ping),
      },
      stacks: [
        {
          stackName: MPC_STACK_NAME,
          outputs: [
            { key: 'VpcId', value: 'vpc-0twin0000000000001', exportName: 'MpcVpcId' },
            ...nodes.flatMap((n) => [
              {
                key: cdkOutputKey(['MpcNetwork', `Node${n.index}InstanceId`]),
                value: n.instanceId,
                exportName: `MpcNode${n.index}InstanceId`,
              },
              {
                key: cdkOutputKey(['MpcNetwork', `Node${n.index}PrivateIp`]),
                value: n.privateIp,
                exportName: `MpcNode${n.index}PrivateIp`,
              },
              {
                key: cdkOutputKey(['MpcNetwork', `Node${n.index}AccountId`]),
                value: n.accountId,
                exportName: `MpcNode${n.index}AccountId`,
              },
            ]),
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
    stoppers.push(() => aws.stop());
    if (scenario.faults.aws) configureAwsFaults(aws.faults, scenario.faults.aws);

    const fleet = await createFleet({
      rootDir: join(workDir, 'instances'),
      repoDir: REPO_DIR,
      awsEndpointUrl: aws.url,
      region: AWS_REGION,
      credentials,
      images: { [NODE_IMAGE]: { command: [process.execPath, join(REPO_DIR, 'twin', 'node', 'main.ts')] } },
      containerEnv: {
        TWIN_NEAR_RPC_URL: nodeRpc.url,
        TWIN_POLL_MS: String(Math.max(50, Math.min(500, scenario.blockTimeMs))),
        TWIN_ATTESTATION_BACKOFF_MAX_MS: String(Math.max(1000, 2 * scenario.blockTimeMs)),
      },
    });
    fleetRef = fleet;
    stoppers.push(() => fleet.stopAll());
    fleet.addInstance({
      instanceId: nearBase.instanceId,
      privateIp: nearBase.privateIp,
      role: 'near-base',
      name: 'near-localnet',
    });
    for (const n of nodes) {
      const inst = fleet.addInstance({
        instanceId: n.instanceId,
        privateIp: n.privateIp,
        role: 'mpc-node',
        name: `mpc-node-${n.index}`,
      });
      n.dataDir = inst.dataDir;
    }

    // Secrets as the nodes were booted with them; the scenario's current values land afterwards as
    // new versions (so AWSPREVIOUS holds what the nodes were booted with, as in real life).
    const secretNames = (i: number) => ({
      account: `mpc-node-${i}-mpc_account_sk`,
      p2p: `mpc-node-${i}-mpc_p2p_private_key`,
      store: `mpc-node-${i}-mpc_secret_store_key`,
    });
    for (const n of scenario.nodeList) {
      const names = secretNames(n.index);
      const bootAccount = n.account.node ?? n.account.secretsManager;
      const bootP2p = n.p2p.node ?? n.p2p.secretsManager;
      aws.secrets.create(names.account, bootAccount ? bootAccount.secretKey : 'PLACEHOLDER_REPLACE_WITH_REAL_KEY');
      aws.secrets.create(names.p2p, bootP2p ? bootP2p.secretKey : 'PLACEHOLDER_REPLACE_WITH_REAL_KEY');
      aws.secrets.create(names.store, n.secretStoreKey);
    }

    // First boot: the node's secrets.json is what it was booted with (written by the bootstrap).
    await Promise.all(
      scenario.nodeList.map(async (n) => {
        const node = nodes[n.index]!;
        const result = await fleet.bootstrap(node.instanceId, {
          NODE_INDEX: String(n.index),
          REGION: AWS_REGION,
          MPC_CONTRACT_ID: CONTRACT_ID,
          MPC_ACCOUNT_ID: n.accountId,
          IMAGE: NODE_IMAGE,
          SECRET_POLL_SECONDS: String(opts.secretPollSeconds ?? 1),
          SECRET_POLL_COUNT: '3',
        });
        if (result.exitCode !== 0) log(`bootstrap of ${n.accountId} exited ${result.exitCode}`);
      }),
    );

    for (const n of scenario.nodeList) {
      const names = secretNames(n.index);
      const node = nodes[n.index]!;
      const current = (key: { secretKey: string } | undefined, role: 'account' | 'p2p') =>
        key ? shapeSecretValue(key.secretKey, n.secretShapes[role]) : 'PLACEHOLDER_REPLACE_WITH_REAL_KEY';
      const bootAccount = (n.account.node ?? n.account.secretsManager)?.secretKey;
      const bootP2p = (n.p2p.node ?? n.p2p.secretsManager)?.secretKey;
      if (current(n.account.secretsManager, 'account') !== bootAccount)
        aws.secrets.put(names.account, current(n.account.secretsManager, 'account'));
      if (current(n.p2p.secretsManager, 'p2p') !== bootP2p)
        aws.secrets.put(names.p2p, current(n.p2p.secretsManager, 'p2p'));
      if (n.ping === 'ConnectionLost') fleet.setPing(node.instanceId, 'ConnectionLost');
    }

    const manifestPath = join(workDir, 'mpc-node-keys.json');
    writeFileSync(manifestPath, `${JSON.stringify(manifestFor(scenario), null, 2)}\n`, { mode: 0o600 });

    const env: Record<string, string> = {
      RUNBOOK_TARGET: 'aws',
      NEAR_RPC_URL: rpc.url,
      MPC_CONTRACT_ID: CONTRACT_ID,
      AWS_ENDPOINT_URL: aws.url,
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

    const waitForRunning = async (timeoutMs = 120_000) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const out = contract.view('state', {}, { contractId: CONTRACT_ID, blockHeight: chain.head.height });
        if (out.ok && typeof out.value === 'object' && out.value !== null && 'Running' in out.value) {
          const running = (out.value as { Running: { keyset: { domains: unknown[] } } }).Running;
          if (running.keyset.domains.length > 0) return;
        }
        await new Promise((r) => setTimeout(r, Math.min(200, scenario.blockTimeMs)));
      }
      throw new Error(`the twin's contract did not reach Running within ${timeoutMs} ms`);
    };

    const twin: Twin = {
      scenario,
      env,
      rpcUrl: rpc.url,
      awsUrl: aws.url,
      manifestPath,
      workDir,
      contractId: CONTRACT_ID,
      nodes,
      nearBase,
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
