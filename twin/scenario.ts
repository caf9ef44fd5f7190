/**
 * Scenario files are data: how many nodes, how fast blocks come, what state the contract is in,
 * and — for each node key — which *generation* of key sits in each of the four places a node key
 * lives. Keys are derived from the scenario seed, so no key is stored or copied anywhere.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { base58 } from '@scure/base';
import { ed25519PublicKey } from './ed25519.ts';

export const SCENARIO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'scenarios');

/** A key generation label ("A", "B", …). `none` = the place holds no key (node: no secrets.json yet). */
const Generation = z.string().regex(/^([A-Z]|none)$/, 'a generation is one capital letter, or "none"');

const Placement = z.object({
  chain: Generation,
  secretsManager: Generation,
  manifest: Generation,
  node: Generation,
});

/**
 * How the Secrets Manager value of the account/p2p keys is written (`no-prefix`: the base58 body without
 * its `ed25519:`).
 */
const SecretShape = z.enum(['plain', 'json-wrapped', 'trailing-newline', 'placeholder', 'progress-text', 'no-prefix']);

const NodeOverride = z.object({
  account: Placement.partial().optional(),
  p2p: Placement.partial().optional(),
  secretShape: SecretShape.optional(),
  /** The instance's SSM agent state at start. */
  ping: z.enum(['Online', 'ConnectionLost']).optional(),
  /** Account id written in the manifest, e.g. the stale "mpc-node-1.node0". */
  manifestAccountId: z.string().optional(),
});

// --- deployment: how this Layer 3 departs from the CDK + mpc-setup.ts flow (the failure modes of issue 14) ---

const Yocto = z.string().regex(/^\d+$/, 'an amount of yoctoNEAR as a decimal string');

const NodeDeployment = z.object({
  /** The node account's balance in yoctoNEAR (mpc-setup.ts funds 10 NEAR). */
  balance: Yocto.optional(),
  /**
   * The node's on-chain account key is a FunctionCall key with these fields instead of what
   * `accountKeyPermission` says; unset fields: receiver = the contract, the node's methods, no allowance limit.
   */
  functionCallKey: z
    .object({
      receiverId: z.string().optional(),
      methodNames: z.array(z.string()).optional(),
      /** What is left of the key's allowance (null = unlimited). */
      allowance: Yocto.nullable().optional(),
    })
    .optional(),
  /** The shape of one secret's Secrets Manager value (overrides `secretShape` for that secret only). */
  secretShapes: z.object({ account: SecretShape.optional(), p2p: SecretShape.optional() }).optional(),
});

const Deployment = z.object({
  /**
   * How far the contract's setup got: `initialised` (deploy, init, every node's vote_add_domains; `contract`
   * says the rest), `no-domains` (init done, domain voting never happened: Running with zero domains),
   * `not-initialised` (deployed, init never called), `no-code` (the account exists, no code was ever
   * deployed), `other-code` (another contract's code on the account). All but `initialised` need
   * `contract: "initializing"` (the default): nothing runs keygen.
   */
  contract: z.enum(['initialised', 'no-domains', 'not-initialised', 'no-code', 'other-code']).default('initialised'),
  /** Every manifest MPC_ACCOUNT_ID ends in this instead of the deployment's `localnet` (e.g. "node0"). */
  manifestAccountSuffix: z.string().optional(),
  /** Per node index. */
  nodes: z.record(z.string().regex(/^\d+$/), NodeDeployment).default({}),
});
export type ScenarioDeployment = z.infer<typeof Deployment>;
/**
 * One ingress rule of the MPC instances' security group, as the CDK writes it (mpc-facts §5.1):
 * `from: "mpc"` = the security group itself (every MPC instance), `from: "near-base"` =
 * `<NEAR base address at MPC deploy time>/32`. tcp only, as the CDK's rules are.
 */
const IngressRule = z.object({
  port: z.number().int().min(1).max(65535),
  from: z.enum(['mpc', 'near-base']),
  description: z.string().optional(),
});
export type IngressRuleSpec = z.infer<typeof IngressRule>;

/** The user's CDK (near/mpc infra/aws-cdk mpc-network.ts, localnet with an IPv4 RPC host). */
export const CDK_MPC_INGRESS: IngressRuleSpec[] = [
  { port: 3030, from: 'mpc', description: 'nearcore RPC between MPC nodes' },
  { port: 8080, from: 'mpc', description: 'web UI between MPC nodes' },
  { port: 24567, from: 'near-base', description: 'nearcore P2P from the NEAR base' },
  { port: 8080, from: 'near-base', description: 'web UI from the NEAR base' },
];

/** Where the nodes listen and who may reach them. Defaults = the user's deployment. */
const Network = z.object({
  /** Port of the participant URLs on chain (`http://<privateIp>:<port>`); the user's setup writes 8080. */
  participantPort: z.number().int().min(1).max(65535).default(8080),
  /** config.yaml `indexer.port_override`: replaces the port of every participant (own listener included). */
  portOverride: z.number().int().min(1).max(65535).optional(),
  /** Ingress rules of the MPC security group. */
  mpcIngress: z.array(IngressRule).default(CDK_MPC_INGRESS),
  /** The NEAR base was redeployed after the MPC stack: the rules name its previous address. */
  nearBaseRedeployedSinceMpcDeploy: z.boolean().default(false),
});

/** Per node: what is broken besides its keys. */
const NodeFault = z.object({
  /** `missing`: no attestation for the node's sign_pk on chain (init pre-populates one for every participant). */
  attestation: z.enum(['present', 'missing']).optional(),
  /** `stopped`: `docker stop mpc-node` after the first boot (exited, stays stopped). */
  container: z.enum(['running', 'stopped']).optional(),
  /** The node's chain view (its embedded nearcore indexer) lags the chain head by this many blocks. */
  indexerLagBlocks: z.number().int().min(0).optional(),
});

export const ScenarioSchema = z.object({
  name: z.string(),
  description: z.string(),
  /** One or two sentences shown by `npm run twin`: what this scenario reproduces. */
  reproduces: z.string(),
  seed: z.string().optional(),
  nodes: z.number().int().min(1).max(100).default(3),
  threshold: z.number().int().min(2).optional(),
  blockTimeMs: z.number().int().min(20).max(10_000).default(1000),
  keyEventTimeoutBlocks: z.number().int().min(2).default(30),
  /**
   * `initializing`: domains voted, keygen not done; the nodes run keygen if their keys allow it.
   * `running`: the twin lets the nodes run keygen at start and returns once the contract is Running.
   */
  contract: z.enum(['initializing', 'running']).default('initializing'),
  accountKeyPermission: z.enum(['FullAccess', 'FunctionCall']).default('FullAccess'),
  keys: z.object({ account: Placement, p2p: Placement }),
  secretShape: SecretShape.default('plain'),
  nodeOverrides: z.record(z.string().regex(/^\d+$/), NodeOverride).default({}),
  deployment: Deployment.prefault({}),
  network: Network.prefault({}),
  nodeFaults: z.record(z.string().regex(/^\d+$/), NodeFault).default({}),
  faults: z
    .object({
      /** AWS endpoint faults (AwsFaultsInputSchema, twin/aws/server.ts): latencyMs, throttle, failNext5xx, ssmHang… */
      aws: z.record(z.string(), z.unknown()).optional(),
      rpc: z.object({ latencyMs: z.number().min(0).optional() }).optional(),
    })
    .default({}),
});
export type Scenario = z.infer<typeof ScenarioSchema>;
export type SecretShapeName = z.infer<typeof SecretShape>;
export type KeyPlacement = z.infer<typeof Placement>;
export type ScenarioNetwork = z.infer<typeof Network>;
export type NodeFaultSpec = z.infer<typeof NodeFault>;

export interface GeneratedKey {
  secretKey: string; // ed25519:<base58 64 bytes seed‖public>
  publicKey: string; // ed25519:<base58 32 bytes>
}

export interface ResolvedNode {
  index: number;
  accountId: string;
  manifestAccountId: string;
  secretShape: SecretShapeName;
  /** The shape of each secret's Secrets Manager value (`secretShape` unless deployment.nodes overrides one). */
  secretShapes: { account: SecretShapeName; p2p: SecretShapeName };
  ping: 'Online' | 'ConnectionLost';
  /** The key in each place, per role; undefined where the place holds none. */
  account: Record<keyof KeyPlacement, GeneratedKey | undefined>;
  p2p: Record<keyof KeyPlacement, GeneratedKey | undefined>;
  secretStoreKey: string; // 32 hex chars
  /** What is broken on this node besides its keys (scenario `nodeFaults`). */
  faults: NodeFaultSpec;
}

export interface ResolvedScenario extends Scenario {
  seed: string;
  threshold: number;
  nodeList: ResolvedNode[];
}

/** Deterministic ed25519 key for (scenario seed, role, node, generation). */
export function scenarioKey(seed: string, role: 'account' | 'p2p', index: number, generation: string): GeneratedKey {
  const privateSeed = createHash('sha256')
    .update(`mpc-runbook twin key|${seed}|${role}|${index}|${generation}`)
    .digest();
  const pub = ed25519PublicKey(privateSeed);
  const pair = new Uint8Array(64);
  pair.set(privateSeed, 0);
  pair.set(pub, 32);
  return { secretKey: `ed25519:${base58.encode(pair)}`, publicKey: `ed25519:${base58.encode(pub)}` };
}

function secretStoreKeyFor(seed: string, index: number): string {
  return createHash('sha256')
    .update(`mpc-runbook twin store|${seed}|${index}`)
    .digest('hex')
    .slice(0, 32)
    .toUpperCase();
}

/** Threshold rules of the contract: 2 ≤ k ≤ n and k ≥ ceil(3n/5). */
export function defaultThreshold(n: number): number {
  return Math.min(n, Math.max(2, Math.ceil((3 * n) / 5)));
}

export function listScenarios(): string[] {
  return readdirSync(SCENARIO_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, ''))
    .sort();
}

export function loadScenario(nameOrPath: string): Scenario {
  const path = nameOrPath.endsWith('.json') ? resolve(nameOrPath) : join(SCENARIO_DIR, `${nameOrPath}.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const known = listScenarios().join(', ');
    throw new Error(`scenario "${nameOrPath}" could not be read (${(e as Error).message}); known scenarios: ${known}`);
  }
  const parsed = ScenarioSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`scenario "${nameOrPath}" is invalid: ${issues}`);
  }
  return parsed.data;
}

export function resolveScenario(
  input: Scenario | string,
  overrides: Partial<Pick<Scenario, 'nodes' | 'blockTimeMs' | 'keyEventTimeoutBlocks'>> = {},
): ResolvedScenario {
  const scenario = { ...(typeof input === 'string' ? loadScenario(input) : ScenarioSchema.parse(input)), ...overrides };
  const seed = scenario.seed ?? scenario.name;
  if (scenario.contract === 'running' && scenario.deployment.contract !== 'initialised')
    throw new Error(
      `scenario "${scenario.name}": a contract set up only to "${scenario.deployment.contract}" never runs`,
    );
  const places = ['chain', 'secretsManager', 'manifest', 'node'] as const;
  const nodeList: ResolvedNode[] = [];
  for (let i = 0; i < scenario.nodes; i++) {
    const o = scenario.nodeOverrides[String(i)] ?? {};
    const accountId = `mpc-node-${i}.localnet`;
    const placeKeys = (role: 'account' | 'p2p') => {
      const placement = { ...scenario.keys[role], ...(o[role] ?? {}) };
      return Object.fromEntries(
        places.map((p) => [p, placement[p] === 'none' ? undefined : scenarioKey(seed, role, i, placement[p])]),
      ) as Record<keyof KeyPlacement, GeneratedKey | undefined>;
    };
    nodeList.push({
      index: i,
      accountId,
      manifestAccountId: o.manifestAccountId ?? manifestAccountIdOf(scenario.deployment, i, accountId),
      secretShape: o.secretShape ?? scenario.secretShape,
      secretShapes: secretShapesOf(scenario.deployment, i, o.secretShape ?? scenario.secretShape),
      ping: o.ping ?? 'Online',
      account: placeKeys('account'),
      p2p: placeKeys('p2p'),
      secretStoreKey: secretStoreKeyFor(seed, i),
      faults: scenario.nodeFaults[String(i)] ?? {},
    });
  }
  return { ...scenario, seed, threshold: scenario.threshold ?? defaultThreshold(scenario.nodes), nodeList };
}

/** The manifest's MPC_ACCOUNT_ID of node i: the deployment's account, or its drifted suffix. */
function manifestAccountIdOf(d: ScenarioDeployment, i: number, accountId: string): string {
  return d.manifestAccountSuffix === undefined ? accountId : `mpc-node-${i}.${d.manifestAccountSuffix}`;
}

function secretShapesOf(d: ScenarioDeployment, i: number, shape: SecretShapeName): ResolvedNode['secretShapes'] {
  const o = d.nodes[String(i)]?.secretShapes;
  return { account: o?.account ?? shape, p2p: o?.p2p ?? shape };
}

export const PLACEHOLDER = 'PLACEHOLDER_REPLACE_WITH_REAL_KEY';

/** The Secrets Manager value of a key as the scenario's shape writes it. */
export function shapeSecretValue(secret: string, shape: SecretShapeName): string {
  switch (shape) {
    case 'plain':
      return secret;
    case 'json-wrapped':
      return JSON.stringify({ key: secret });
    case 'trailing-newline':
      return `${secret}\n`;
    case 'placeholder':
      return PLACEHOLDER;
    case 'progress-text':
      return `Waiting for secret to be populated...\n${secret}`;
    case 'no-prefix':
      return secret.replace(/^ed25519:/, '');
  }
}

/** mpc-node-keys.json as the user's generate-test-keys.sh writes it. */
export function manifestFor(scenario: ResolvedScenario): Record<string, Record<string, string>> {
  const manifest: Record<string, Record<string, string>> = {};
  for (const n of scenario.nodeList) {
    const account = n.account.manifest;
    const p2p = n.p2p.manifest;
    if (!account || !p2p) continue;
    manifest[`node-${n.index}`] = {
      MPC_ACCOUNT_ID: n.manifestAccountId,
      MPC_ACCOUNT_SK: account.secretKey,
      MPC_ACCOUNT_PK: account.publicKey,
      MPC_P2P_PRIVATE_KEY: p2p.secretKey,
      MPC_P2P_PUBLIC_KEY: p2p.publicKey,
      MPC_SECRET_STORE_KEY: n.secretStoreKey,
    };
  }
  return manifest;
}

/** Every secret value a scenario puts anywhere (for redaction scans). */
export function scenarioSecrets(scenario: ResolvedScenario): string[] {
  const out = new Set<string>();
  for (const n of scenario.nodeList) {
    for (const role of [n.account, n.p2p]) for (const k of Object.values(role)) if (k) out.add(k.secretKey);
    out.add(n.secretStoreKey);
    // a Secrets Manager value that does not contain its key as written (no-prefix: the bare base58 body)
    for (const role of ['account', 'p2p'] as const) {
      const key = n[role].secretsManager;
      const value = key && shapeSecretValue(key.secretKey, n.secretShapes[role]);
      if (value && value !== PLACEHOLDER && !value.includes(key.secretKey)) out.add(value);
    }
  }
  return [...out];
}
