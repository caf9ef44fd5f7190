/**
 * What a run checks — the embedded twin or a real deployment — said in every run's header and final
 * report, so a green run on the twin is never mistaken for a verdict on the real Layer 3. A run that
 * writes (fix, rollback, unlock) needs the target chosen explicitly.
 */
import { lookalikeVariables } from './config.ts';

export interface Target {
  kind: 'twin' | 'aws';
  /** RUNBOOK_TARGET was set (to twin or aws); the default twin is never a written choice. */
  explicit: boolean;
  /** One line: what this run checks. */
  says: string;
}

/** The target from the environment (.env already loaded). */
export function targetOf(env: Record<string, string | undefined>): Target {
  const raw = env.RUNBOOK_TARGET || undefined;
  if (raw !== undefined && raw !== 'twin' && raw !== 'aws') {
    return { kind: 'aws', explicit: false, says: `RUNBOOK_TARGET is "${raw}", which is neither twin nor aws` };
  }
  if ((raw ?? 'twin') === 'twin') {
    const scenario = env.RUNBOOK_SCENARIO || 'incident-key-mismatch';
    const chosen = raw ? '' : ' (RUNBOOK_TARGET is not set, so the built-in twin)';
    return {
      kind: 'twin',
      explicit: raw !== undefined,
      says: `the embedded twin${chosen}, scenario ${scenario} — nothing real was checked`,
    };
  }
  const account = env.EXPECTED_AWS_ACCOUNT_ID
    ? `account ${env.EXPECTED_AWS_ACCOUNT_ID}`
    : 'the account of the credentials';
  const stacks = [env.MPC_STACK_NAME || 'MpcStandaloneStack', env.NEAR_STACK_NAME || 'near-localnet-infrastructure'];
  const endpoint = env.AWS_ENDPOINT_URL ? ` at ${env.AWS_ENDPOINT_URL}` : '';
  return {
    kind: 'aws',
    explicit: true,
    says:
      `AWS ${account}, region ${env.AWS_REGION ?? '(unset)'}${endpoint}, stacks ${stacks.join(' and ')}, ` +
      `NEAR RPC ${env.NEAR_RPC_URL ?? '(unset)'}`,
  };
}

/** Why a run that writes must not start against this configuration (undefined: it may). */
export function writeRefusal(env: Record<string, string | undefined>, command: string): string | undefined {
  const target = targetOf(env);
  const lookalikes = lookalikeVariables(env).map((v) => `${v.name} (did you mean ${v.closest}?)`);
  const typos = lookalikes.length
    ? ` Variables that look like the runbook's but are not: ${lookalikes.join(', ')}.`
    : '';
  if (!target.explicit) {
    return (
      `${command} refuses to run against a target that was not chosen: ${target.says}.${typos} ` +
      'Set RUNBOOK_TARGET=aws (with the deployment in .env, see .env.example) or RUNBOOK_TARGET=twin, then run again.'
    );
  }
  if (lookalikes.length) return `${command} refuses to run: ${typos.trim()} Correct them in .env or the environment.`;
  return undefined;
}
