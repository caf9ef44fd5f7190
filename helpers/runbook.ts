/**
 * The runbook harness the specs stand on: each step builds its own context from configuration (so
 * it runs alone), collects evidence in batches, records its outcome for the steps after it, and
 * knows the mode it runs in (gate: observe; plan: observe and print the repair; fix: repair, journal,
 * observe again).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeEach, inject } from 'vitest';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { loadConfig, type RunbookConfig } from './config.ts';
import { discover, type Deployment } from './aws/cloudformation.ts';
import { diagnose } from './diagnosis.ts';
import { classified } from './errors.ts';
import type { Finding, NodeEvidence } from './evidence.ts';
import { runOn, ssmClient } from './aws/ssm.ts';
import { openJournal, type Journal } from './journal.ts';
import { loadManifest, ManifestError, type Manifest } from './manifest.ts';
import { nearClient, participantsOf, type ContractState, type NearClient } from './near/rpc.ts';
import { redactor } from './redact.ts';
import { readSecrets, secretsClient } from './aws/secrets-manager.ts';
import { callerIdentity } from './aws/sts.ts';
import { nodePublicDataScript, parsePublicData } from './instances/node-reports.ts';
import { observeKeySecret, secretNames } from './node-secrets.ts';

declare module 'vitest' {
  interface ProvidedContext {
    runbookEnv: Record<string, string>;
    runId: string;
    /** Why this fix run could not take the fix lock ('' when it holds it, or in gate/plan). */
    fixLockRefused: string;
  }
}

export type Mode = 'gate' | 'plan' | 'fix';

export interface RunbookContext {
  config: RunbookConfig;
  mode: Mode;
  runId: string;
  near: NearClient;
  sm: SecretsManagerClient;
  ssm: SSMClient;
  deployment: Deployment;
  manifest?: Manifest;
  manifestError?: string;
  journal(): Journal;
}

export interface Evidence {
  state: ContractState;
  nodes: NodeEvidence[];
  findings: Finding[];
}

/**
 * Prerequisites of each step. Gate and plan observe every step independently (so one run shows the
 * whole picture, and plan lists every action); fix runs a repair only on top of the ones before it.
 */
const OBSERVE_PREREQUISITES: Record<string, string[]> = {
  '00-preflight': [],
  '01-keys-match': ['00-preflight'],
  '02-secrets-restored': ['00-preflight'],
  '03-nodes-healthy': ['00-preflight'],
  '04-contract-running': ['00-preflight'],
  '05-parity-views': ['00-preflight', '04-contract-running'],
};
const FIX_PREREQUISITES: Record<string, string[]> = {
  '00-preflight': [],
  '01-keys-match': ['00-preflight'],
  '02-secrets-restored': ['00-preflight'],
  '03-nodes-healthy': ['00-preflight', '02-secrets-restored'],
  '04-contract-running': ['00-preflight', '03-nodes-healthy'],
  '05-parity-views': ['00-preflight', '04-contract-running'],
};

function runEnv(): Record<string, string> {
  try {
    return inject('runbookEnv') ?? {};
  } catch {
    return {};
  }
}

function runId(): string {
  try {
    return inject('runId') ?? `run-${Date.now()}`;
  } catch {
    return `run-${Date.now()}`;
  }
}

/** In fix mode: why the run could not take the fix lock, if it could not. */
export function fixLockRefused(): string {
  try {
    return inject('fixLockRefused') ?? '';
  } catch {
    return '';
  }
}

let contextPromise: Promise<RunbookContext> | undefined;

/** The shared context, built from configuration only (never from an earlier step). */
export function runbookContext(): Promise<RunbookContext> {
  contextPromise ??= (async () => {
    Object.assign(process.env, runEnv());
    const config = loadConfig();
    const id = runId();
    const near = nearClient(config.NEAR_RPC_URL, config.MPC_CONTRACT_ID, {
      requestTimeoutMs: config.RUNBOOK_RPC_TIMEOUT_S * 1000,
    });
    // The deployment does not change during a run: discover it once per run, not once per step.
    const cached = join(runDir(), 'deployment.json');
    let deployment: Deployment;
    if (existsSync(cached)) deployment = JSON.parse(readFileSync(cached, 'utf8')) as Deployment;
    else {
      deployment = await discover(config.AWS_REGION, config.MPC_STACK_NAME, config.NEAR_STACK_NAME).catch(
        (e: unknown) => {
          throw classified(e, awsOrigin('CloudFormation', config.AWS_REGION));
        },
      );
      writeFileSync(cached, JSON.stringify(deployment));
    }
    let manifest: Manifest | undefined;
    let manifestError: string | undefined;
    try {
      manifest = loadManifest(resolve(config.MPC_KEYS_FILE), {
        nodeCount: deployment.nodes.length,
        accountIdFor: (i) => deployment.nodes[i]!.accountId,
      });
    } catch (e) {
      if (!(e instanceof ManifestError)) throw e;
      manifestError = e.message;
    }
    let journal: Journal | undefined;
    return {
      config,
      mode: config.RUNBOOK_MODE,
      runId: id,
      near,
      deployment,
      manifest,
      ...(manifestError ? { manifestError } : {}),
      sm: secretsClient(config.AWS_REGION),
      ssm: ssmClient(config.AWS_REGION),
      journal: () => (journal ??= openJournal(config.RUNBOOK_JOURNAL_DIR, id)),
    };
  })();
  return contextPromise;
}

/** Where an AWS call went, for classified errors (AWS_ENDPOINT_URL is set for LocalStack-style endpoints). */
export function awsOrigin(service: string, region: string) {
  const endpoint = process.env.AWS_ENDPOINT_URL;
  return {
    system: `AWS ${service} in ${region}`,
    ...(endpoint ? { endpoint } : {}),
    setting: 'AWS_REGION, AWS_PROFILE and AWS_ENDPOINT_URL',
  };
}

/** Where a NEAR RPC call went, for classified errors. */
export const nearOrigin = (config: RunbookConfig) => ({
  system: 'NEAR RPC',
  endpoint: config.NEAR_RPC_URL,
  setting: 'NEAR_RPC_URL (the NEAR base must be running)',
});

/** Everything the four places say about every node, in batches: one call per kind of evidence. */
export async function collectEvidence(ctx: RunbookContext): Promise<Evidence> {
  // Gate and plan write nothing, so every step of the run can share one observation (public keys
  // only, safe on disk); fix mode observes afresh, since each step may have changed what it sees.
  const cache = join(runDir(), 'evidence.json');
  if (ctx.mode !== 'fix' && existsSync(cache)) return JSON.parse(readFileSync(cache, 'utf8')) as Evidence;
  const evidence = await observe(ctx);
  if (ctx.mode !== 'fix') writeFileSync(cache, JSON.stringify(evidence));
  return evidence;
}

async function observe(ctx: RunbookContext): Promise<Evidence> {
  const { deployment } = ctx;
  const accounts = deployment.nodes.map((n) => n.accountId);
  const names = deployment.nodes.flatMap((n) => [secretNames(n.index).account, secretNames(n.index).p2p]);
  const [keys, state, secrets, selfReports] = await Promise.all([
    ctx.near.onChainKeys(accounts),
    ctx.near.contractState(),
    readSecrets(ctx.sm, names),
    nodeSelfReports(ctx),
  ]);
  const participants = participantsOf(state);
  const nodes: NodeEvidence[] = deployment.nodes.map((n) => {
    const accessKeys = keys.get(n.accountId);
    const m = ctx.manifest?.nodes.find((x) => x.index === n.index);
    const self = selfReports.get(n.index);
    const where = (field: string) => ({ node: n.accountId, field });
    return {
      index: n.index,
      accountId: n.accountId,
      instanceId: n.instanceId,
      privateIp: n.privateIp,
      chain: {
        accountExists: accessKeys !== undefined && accessKeys.length > 0,
        accessKeys: accessKeys ?? [],
        ...(participants.find((p) => p[0] === n.accountId)
          ? { participantSignPk: participants.find((p) => p[0] === n.accountId)![2].sign_pk }
          : {}),
      },
      secretsManager: {
        account: observeKeySecret(secrets.get(secretNames(n.index).account)!, where(secretNames(n.index).account)),
        p2p: observeKeySecret(secrets.get(secretNames(n.index).p2p)!, where(secretNames(n.index).p2p)),
      },
      ...(m
        ? {
            manifest: {
              nodeKey: m.nodeKey,
              accountId: m.declaredAccountId,
              accountPublicKey: m.accountPublicKey,
              p2pPublicKey: m.p2pPublicKey,
              problems: [],
            },
          }
        : {}),
      node: self?.signer
        ? {
            reachable: true,
            healthy: self.health === '200',
            signerPublicKey: self.signer,
            ...(self.p2p ? { p2pPublicKey: self.p2p } : {}),
          }
        : { reachable: false, error: self ? `HTTP ${self.health}` : 'no answer' },
    };
  });
  return { state, nodes, findings: diagnose(nodes, { contractId: ctx.config.MPC_CONTRACT_ID }) };
}

/** /health and /public_data of every node, asked from inside the VPC (the NEAR base) in one SSM command. */
export async function nodeSelfReports(ctx: RunbookContext) {
  const base = ctx.deployment.nearBase;
  if (!base)
    throw new Error(
      `the NEAR base instance was not found in stack ${ctx.config.NEAR_STACK_NAME} (needed to reach the nodes inside the VPC)`,
    );
  const script = nodePublicDataScript(ctx.deployment.nodes.map((n) => ({ index: n.index, ip: n.privateIp })));
  const r = (
    await runOn(ctx.ssm, [base.instanceId], script, {
      timeoutS: ctx.config.RUNBOOK_SSM_TIMEOUT_S,
      comment: 'mpc-runbook: node /health and /public_data',
      fullOutput: true,
    })
  ).get(base.instanceId);
  if (r?.status !== 'Success')
    throw new Error(`asking the nodes from the NEAR base failed: ${r?.status ?? 'no result'} ${r?.stderr ?? ''}`);
  return parsePublicData(r.stdout);
}

// --- run state: what earlier steps of this run concluded ------------------------------------------

function runDir(): string {
  const dir = join(process.env.RUNBOOK_STATE_DIR ?? '.runbook/runs', runId());
  mkdirSync(dir, { recursive: true });
  return dir;
}

const stateFile = () => join(runDir(), 'steps.json');

export function readRunState(): Record<string, { ok: boolean; failed: string[]; skipped?: string }> {
  const f = stateFile();
  return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : {};
}

function recordStep(step: string, failed: string[], skipped?: string) {
  const all = readRunState();
  all[step] = { ok: failed.length === 0 && !skipped, failed, ...(skipped ? { skipped } : {}) };
  writeFileSync(stateFile(), JSON.stringify(all, null, 2));
}

export interface Step {
  name: string;
  /** Why this step cannot run, when a prerequisite failed earlier in this run (it is then skipped). */
  skippedBecause?: string;
  /** Why this step cannot run on its own (it then fails with the reason). */
  blockedBecause?: string;
  ctx?: RunbookContext;
}

/**
 * Open a step: record its outcome when the file ends, and decide whether it can run. A prerequisite
 * that failed earlier in this run skips the step with the reason; a step run alone whose context
 * cannot be built fails with the reason (a skip never turns a run green).
 */
export async function openStep(name: string): Promise<Step> {
  const failedTests: string[] = [];
  beforeEach((t) => {
    t.onTestFailed(() => {
      failedTests.push(t.task.name);
    });
  });
  const earlier = readRunState();
  const prerequisites =
    (process.env.RUNBOOK_MODE ?? runEnv().RUNBOOK_MODE) === 'fix' ? FIX_PREREQUISITES : OBSERVE_PREREQUISITES;
  const failedPrereq = (prerequisites[name] ?? []).find((p) => earlier[p] && !earlier[p].ok);
  if (failedPrereq) {
    const e = earlier[failedPrereq]!;
    const skippedBecause = e.skipped
      ? `${failedPrereq} was skipped earlier in this run`
      : `${failedPrereq} failed earlier in this run (${e.failed.length} claim${e.failed.length === 1 ? '' : 's'} red)`;
    afterAll(() => recordStep(name, failedTests, skippedBecause));
    return { name, skippedBecause };
  }
  afterAll(() => recordStep(name, failedTests));
  try {
    return { name, ctx: await runbookContext() };
  } catch (e) {
    return { name, blockedBecause: redactor.redactError(e).message };
  }
}

/** In fix mode, refuse to write unless the account and region are the ones configured. */
export async function assertWritable(ctx: RunbookContext): Promise<void> {
  const id = await callerIdentity(ctx.config.AWS_REGION);
  if (id.account !== ctx.config.EXPECTED_AWS_ACCOUNT_ID) {
    throw new Error(
      `refusing to write: AWS account is ${id.account}, the configuration expects ${ctx.config.EXPECTED_AWS_ACCOUNT_ID}`,
    );
  }
  if (ctx.config.EXPECTED_AWS_REGION && ctx.config.EXPECTED_AWS_REGION !== ctx.config.AWS_REGION) {
    throw new Error(
      `refusing to write: AWS region is ${ctx.config.AWS_REGION}, the configuration expects ${ctx.config.EXPECTED_AWS_REGION}`,
    );
  }
}

/** The evidence of one node as a compact table row for annotations (public keys only). */
export function evidenceTable(ev: NodeEvidence): string {
  const short = (k?: string) => (k ? `${k.slice(0, 12)}…${k.slice(-4)}` : '—');
  return [
    `node ${ev.accountId} (${ev.instanceId}, ${ev.privateIp})`,
    `  chain        account keys: ${ev.chain.accessKeys.map((k) => `${short(k.publicKey)} [${k.permission === 'FullAccess' ? 'FullAccess' : 'FunctionCall'}]`).join(', ') || 'none'}; participant sign_pk: ${short(ev.chain.participantSignPk)}`,
    `  secrets mgr  account: ${short(ev.secretsManager.account.publicKey)} (${ev.secretsManager.account.shape}); p2p: ${short(ev.secretsManager.p2p.publicKey)} (${ev.secretsManager.p2p.shape})`,
    `  manifest     account: ${short(ev.manifest?.accountPublicKey)}; p2p: ${short(ev.manifest?.p2pPublicKey)}`,
    `  node         signer: ${short(ev.node.signerPublicKey)}; p2p: ${short(ev.node.p2pPublicKey)}; ${ev.node.reachable ? (ev.node.healthy ? 'healthy' : 'not healthy') : 'unreachable'}`,
  ].join('\n');
}

/** The first test of every step: its prerequisites hold (or it is skipped/failed with the reason). */
export function prerequisitesHold(
  step: Step,
  test: (name: string, fn: (t: { skip: (note?: string) => void }) => void) => void,
) {
  test('prerequisites hold', (t) => {
    if (step.skippedBecause) return t.skip(`skipped: ${step.skippedBecause}`);
    if (step.blockedBecause) throw new Error(step.blockedBecause);
  });
}

/** Inside a claim: the context, or skip/fail with the step's reason. */
export function use(step: Step, t: { skip: (note?: string) => void }): RunbookContext {
  if (step.skippedBecause) {
    t.skip(`skipped: ${step.skippedBecause}`);
    throw new Error('unreachable');
  }
  if (!step.ctx || step.blockedBecause) {
    // The reason is the one red claim ("prerequisites hold"); the rest say they were not checked.
    t.skip(`not checked: ${step.name} could not start (see "prerequisites hold")`);
    throw new Error('unreachable');
  }
  return step.ctx;
}

/** Findings as an operator reads them: what disagrees, and what the fix-up would do (or why not). */
export function explain(findings: Finding[]): string {
  return findings
    .map((f) => {
      const what = f.repair
        ? f.repair.kind === 'restore-secret'
          ? `fix-up (step 02): write the manifest's key ${f.repair.publicKey.slice(0, 14)}… to ${f.repair.secretName}`
          : `fix-up (step 03): re-materialise /data/secrets.json on ${f.repair.instanceId} from Secrets Manager and restart mpc-node`
        : `no fix-up: ${f.refusal}`;
      return `- [${f.place}] ${f.message}\n    ${what}`;
    })
    .join('\n');
}
