/**
 * The context every step stands on, built from configuration only (never from an earlier step), so
 * any step runs alone: the validated configuration, the clients of the real systems, the deployment
 * discovered from CloudFormation (once per run), the keys manifest, and the run's journal.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { type Deployment, discover } from '../aws/cloudformation.ts';
import { secretsClient } from '../aws/secrets-manager.ts';
import { ssmClient } from '../aws/ssm.ts';
import { loadConfig, type RunbookConfig } from '../config.ts';
import { classified, type Origin } from '../errors.ts';
import { type Journal, openJournal } from '../journal.ts';
import { type Candidate, isCandidateLoadError, loadCandidates } from '../manifest-candidates.ts';
import { type NearClient, nearClient } from '../near/rpc.ts';
import { oncePerRun, rpcHealth, runEnv, runId, targetRefusal } from './run-state.ts';

export interface RunbookContext {
  config: RunbookConfig;
  runId: string;
  near: NearClient;
  sm: SecretsManagerClient;
  ssm: SSMClient;
  deployment: Deployment;
  /** The keys manifest candidates MPC_KEYS_FILE names (none when unset); per node one is chosen. */
  candidates: Candidate[];
  manifestError?: string;
  journal(): Journal;
}

/** Where an AWS call went, for classified errors (AWS_ENDPOINT_URL is set for twin-style endpoints). */
export function awsOrigin(service: string, region: string): Origin {
  const endpoint = process.env.AWS_ENDPOINT_URL;
  return {
    system: `AWS ${service} in ${region}`,
    ...(endpoint ? { endpoint } : {}),
    setting: 'AWS_REGION, AWS_PROFILE and AWS_ENDPOINT_URL',
  };
}

/** Where a NEAR RPC call went, for classified errors. */
export const nearOrigin = (config: Pick<RunbookConfig, 'NEAR_RPC_URL'>): Origin => ({
  system: 'NEAR RPC',
  endpoint: config.NEAR_RPC_URL,
  setting: 'NEAR_RPC_URL (the NEAR base must be running)',
});

function readCandidates(config: RunbookConfig, deployment: Deployment) {
  if (!config.MPC_KEYS_FILE) return { candidates: [] };
  try {
    const candidates = loadCandidates(config.MPC_KEYS_FILE, {
      nodeCount: deployment.nodes.length,
      accountIdFor: (i) => deployment.nodes[i]!.accountId,
    });
    return { candidates };
  } catch (e) {
    if (!isCandidateLoadError(e)) throw e;
    return { candidates: [], manifestError: e.message };
  }
}

async function buildContext(): Promise<RunbookContext> {
  // A run refused before it started (a writing run without an explicit target) gets no context at all.
  const refused = targetRefusal();
  if (refused) throw new Error(refused);
  Object.assign(process.env, runEnv());
  const config = loadConfig();
  const id = runId();
  const near = nearClient(config.NEAR_RPC_URL, config.MPC_CONTRACT_ID, {
    requestTimeoutMs: config.RUNBOOK_RPC_TIMEOUT_S * 1000,
    callBudgetMs: config.RUNBOOK_RPC_BUDGET_S * 1000,
    health: rpcHealth,
  });
  // The deployment does not change during a run: discover it once per run, not once per step.
  const deployment = await oncePerRun('deployment.json', () =>
    discover(config.AWS_REGION, config.MPC_STACK_NAME, config.NEAR_STACK_NAME).catch((e: unknown) => {
      throw classified(e, awsOrigin('CloudFormation', config.AWS_REGION));
    }),
  );
  let journal: Journal | undefined;
  return {
    config,
    runId: id,
    near,
    deployment,
    ...readCandidates(config, deployment),
    sm: secretsClient(config.AWS_REGION),
    ssm: ssmClient(config.AWS_REGION),
    journal: () => {
      journal ??= openJournal(config.RUNBOOK_JOURNAL_DIR, id);
      return journal;
    },
  };
}

let contextPromise: Promise<RunbookContext> | undefined;

/** The shared context of the steps (built once per worker: the runbook's steps share one). */
export function runbookContext(): Promise<RunbookContext> {
  contextPromise ??= buildContext();
  return contextPromise;
}
