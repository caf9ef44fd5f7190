/**
 * Configuration from `.env` (dotenv) and the environment, validated with clear errors. The AWS
 * SDK reads AWS_PROFILE / AWS_REGION / AWS_ENDPOINT_URL* itself; they are only checked here.
 */
import { config as loadDotenv } from 'dotenv';
import { closest, distance } from 'fastest-levenshtein';
import { z } from 'zod';
import { MODES, writes } from './harness/mode.ts';

const seconds = (d: number) => z.coerce.number().positive().default(d);

export const ConfigSchema = z.object({
  RUNBOOK_TARGET: z.enum(['twin', 'aws']).default('twin'),
  RUNBOOK_MODE: z.enum(MODES).default('gate'),
  RUNBOOK_SCENARIO: z.string().default('incident-key-mismatch'),
  NEAR_RPC_URL: z.url({ message: 'must be a URL such as http://localhost:3030' }),
  NEAR_EXPECTED_CHAIN_ID: z.string().optional(),
  MPC_CONTRACT_ID: z.string().default('v1.signer.localnet'),
  /** The keys manifest: one file, or candidates (files, git:<rev>:<path>) comma-separated; unset: none. */
  MPC_KEYS_FILE: z.string().optional(),
  MPC_STACK_NAME: z.string().default('MpcStandaloneStack'),
  NEAR_STACK_NAME: z.string().default('near-localnet-infrastructure'),
  AWS_REGION: z.string().min(1, 'is required (the region of the stacks)'),
  EXPECTED_AWS_ACCOUNT_ID: z
    .string()
    .regex(/^\d{12}$/, 'must be a 12-digit AWS account id')
    .optional(),
  EXPECTED_AWS_REGION: z.string().optional(),
  RUNBOOK_RUNNING_TIMEOUT_S: seconds(600),
  RUNBOOK_HEALTH_TIMEOUT_S: seconds(120),
  RUNBOOK_SSM_TIMEOUT_S: seconds(120),
  /** One NEAR RPC request (retried within the budget when it does not answer). */
  RUNBOOK_RPC_TIMEOUT_S: seconds(10),
  /** One NEAR RPC call, its retries included: a silent RPC is reported within this. */
  RUNBOOK_RPC_BUDGET_S: seconds(15),
  RUNBOOK_JOURNAL_DIR: z.string().default('.runbook/journal'),
  RUNBOOK_STATE_DIR: z.string().default('.runbook/runs'),
  /** Extra parity cases: "predecessor:path,predecessor:path". */
  RUNBOOK_PARITY_CASES: z.string().default(''),
});
export type RunbookConfig = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {}

/** A schema issue as a sentence about the value, not the parser's expectation. */
function inWords(i: z.core.$ZodIssue): string {
  const name = String(i.path[0]);
  if (i.code === 'invalid_value') return `is not one of ${i.values.join(', ')}`;
  if (i.code === 'invalid_type' && i.expected === 'number')
    return `is not a number${name.endsWith('_S') ? ' of seconds' : ''}`;
  if (i.code === 'too_small' && i.origin === 'number') return 'must be more than 0';
  return i.message;
}

/** Validate configuration; `env` defaults to .env + process.env. */
export function loadConfig(env?: Record<string, string | undefined>): RunbookConfig {
  if (!env) {
    loadDotenv({ quiet: true });
    env = process.env;
  }
  // An empty value in .env means "not set", as operators write it.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ConfigSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = String(i.path[0]);
      const found = env![name];
      if (found === undefined || found === '') return `${name}: is not set`;
      return `${name}: "${name.includes('SECRET') ? '…' : found}" ${inWords(i)}`;
    });
    const where = 'Set these in .env (see .env.example) or the environment.';
    throw new ConfigError(`configuration is not valid:\n  - ${lines.join('\n  - ')}\n${where}`);
  }
  const c = parsed.data;
  if (writes(c.RUNBOOK_MODE) && !c.EXPECTED_AWS_ACCOUNT_ID) {
    throw new ConfigError(
      'configuration is not valid:\n  - EXPECTED_AWS_ACCOUNT_ID: is required in fix mode ' +
        '(the runbook refuses to write to an account it was not told to expect)',
    );
  }
  return c;
}

/** Variables the runbook, its scripts and the twin read besides the schema above. */
const OTHER_KNOWN = [
  'RUNBOOK_RUN_ID',
  'RUNBOOK_JUNIT_FILE',
  'RUNBOOK_TWIN_BLOCK_MS',
  'MPC_NODE_KEYS_JSON', // the CI secret the workflows write to MPC_KEYS_FILE
  'MPC_DATA_DIR', // the instances' /data (remote scripts)
];
/** Variables of other NEAR tools an operator's shell may hold; ours only by their prefix. */
const FOREIGN = ['NEAR_ENV', 'NEAR_CLI_LOCALNET_RPC_SERVER_URL'];
export const KNOWN_VARIABLES = [...Object.keys(ConfigSchema.shape), ...OTHER_KNOWN];
const OURS = /^(RUNBOOK_|MPC_|NEAR_|EXPECTED_)/;

/**
 * Variables that look like the runbook's but are not (a typo in .env, a name from another tool):
 * ours by their prefix, or one or two letters away from a known name — each with the closest known one.
 */
export function lookalikeVariables(env: Record<string, string | undefined>): { name: string; closest: string }[] {
  return Object.keys(env)
    .filter((name) => !KNOWN_VARIABLES.includes(name) && !FOREIGN.includes(name))
    .map((name) => ({ name, closest: closest(name, KNOWN_VARIABLES) }))
    .filter(({ name, closest: known }) => OURS.test(name) || distance(name, known) <= 2);
}
