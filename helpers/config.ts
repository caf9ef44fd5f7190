/**
 * Configuration from `.env` (dotenv) and the environment, validated with clear errors. The AWS
 * SDK reads AWS_PROFILE / AWS_REGION / AWS_ENDPOINT_URL* itself; they are only checked here.
 */
import { config as loadDotenv } from 'dotenv';
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
  MPC_KEYS_FILE: z.string().min(1),
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
  RUNBOOK_JOURNAL_DIR: z.string().default('.runbook/journal'),
  RUNBOOK_STATE_DIR: z.string().default('.runbook/runs'),
  /** Extra parity cases: "predecessor:path,predecessor:path". */
  RUNBOOK_PARITY_CASES: z.string().default(''),
});
export type RunbookConfig = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {}

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
      if (found === undefined) return `${name}: is not set`;
      return `${name}: "${name.includes('SECRET') ? '…' : found}" ${i.message}`;
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
