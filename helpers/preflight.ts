/**
 * The claims of step 00 (preflight): the runbook can see the whole Layer 3 — the deployment in its
 * stack outputs, a NEAR RPC on the expected chain that is synced and advancing, the MPC contract,
 * AWS credentials of the expected account and region, every instance online in SSM, a usable keys
 * manifest, and (in a fix run) the fix lock. Each returns a verdict with its evidence.
 */
import { pingStatus } from './aws/ssm.ts';
import { callerIdentity } from './aws/sts.ts';
import { classified } from './errors.ts';
import { awsOrigin, nearOrigin, type RunbookContext } from './harness/context.ts';
import type { Verdict } from './harness/claim.ts';
import { fixLockState, targetRefusal } from './harness/run-state.ts';
import { lookalikeVariables } from './config.ts';
import { targetOf } from './target.ts';
import { waitUntil } from './retry.ts';
import { NO_MANIFEST, secretsMissing } from './manifest.ts';
import { chainView, manifestChoice } from './observe.ts';

const fails = (message: string): Verdict => ({ problems: [{ message }] });
const holds = (evidence: string, warnings: string[] = []): Verdict => ({ evidence, warnings, problems: [] });

export function deploymentDiscovered(_: unknown, ctx: RunbookContext): Verdict {
  const { deployment, config } = ctx;
  const nodes = deployment.nodes.map((n) => `${n.accountId}=${n.instanceId}@${n.privateIp}`).join(', ');
  const base = deployment.nearBase?.instanceId ?? 'not found';
  const evidence = `stack ${config.MPC_STACK_NAME}: ${nodes}; NEAR base ${base}`;
  const problems = [
    ...(deployment.nodes.length ? [] : [{ message: `no MPC nodes in the outputs of stack ${config.MPC_STACK_NAME}` }]),
    ...(deployment.nearBase
      ? []
      : [
          {
            message: `no NEAR base instance: ${deployment.nearBaseMissing ?? `none in ${config.NEAR_STACK_NAME}`}`,
          },
        ]),
  ];
  return { evidence, problems };
}

export async function nearRpcAnswers(_: unknown, ctx: RunbookContext): Promise<Verdict> {
  const { near, config } = ctx;
  const first = await near.status().catch((e: unknown) => {
    throw classified(e, nearOrigin(config));
  });
  const h0 = first.sync_info.latest_block_height;
  // Poll until the head moves (no fixed sleep): a stalled chain fails after 15 s.
  const second = await waitUntil(
    'the NEAR head to advance',
    async () => {
      const s = await near.status();
      return s.sync_info.latest_block_height > h0 ? s : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 100 },
  ).catch(() => near.status());
  const h1 = second.sync_info.latest_block_height;
  const evidence = `chain ${first.chain_id}, height ${h0} → ${h1}, syncing ${second.sync_info.syncing}`;
  const expected = config.NEAR_EXPECTED_CHAIN_ID;
  if (expected && first.chain_id !== expected) {
    return {
      evidence,
      problems: [
        {
          message:
            `the NEAR RPC at ${config.NEAR_RPC_URL} serves chain "${first.chain_id}", but NEAR_EXPECTED_CHAIN_ID ` +
            `is "${expected}": point NEAR_RPC_URL at the right network (or correct NEAR_EXPECTED_CHAIN_ID)`,
        },
      ],
    };
  }
  const problems = [
    ...(second.sync_info.syncing ? [{ message: 'the RPC node is still syncing' }] : []),
    ...(h1 > h0 ? [] : [{ message: `block height did not advance in 15 s (stuck at ${h0})` }]),
  ];
  return { evidence, problems };
}

const NO_CODE = '11111111111111111111111111111111';

export async function contractDeployed(_: unknown, ctx: RunbookContext): Promise<Verdict> {
  const { near, config } = ctx;
  const id = config.MPC_CONTRACT_ID;
  const account = await near.viewAccount(id).catch((e: Error) => {
    if (/does not exist|UNKNOWN_ACCOUNT/.test(e.message)) {
      throw new Error(
        `the contract account ${id} does not exist on the chain behind ${config.NEAR_RPC_URL}: ` +
          'set MPC_CONTRACT_ID to the account v1.signer is deployed to (e.g. v1.signer.localnet)',
      );
    }
    throw classified(e, nearOrigin(config));
  });
  if (account.code_hash === NO_CODE) {
    return fails(
      `${id} exists but has no contract code deployed (code_hash 1111…): ` +
        'deploy the MPC contract or set MPC_CONTRACT_ID',
    );
  }
  const version = await near.contractView<string>('version');
  const evidence = `${id}: code_hash ${account.code_hash}, version ${version}`;
  if (!/^\d+\.\d+\.\d+$/.test(String(version))) {
    return { evidence, problems: [{ message: `${id}.version() gave ${JSON.stringify(version)}` }] };
  }
  return holds(evidence);
}

export async function awsIdentityExpected(_: unknown, ctx: RunbookContext): Promise<Verdict> {
  const { config } = ctx;
  const id = await callerIdentity(config.AWS_REGION).catch((e: unknown) => {
    throw classified(e, awsOrigin('STS', config.AWS_REGION));
  });
  const evidence = `caller ${id.arn} in ${config.AWS_REGION}`;
  const problems = [];
  const expectedAccount = config.EXPECTED_AWS_ACCOUNT_ID;
  if (expectedAccount && id.account !== expectedAccount) {
    problems.push({
      message:
        `the AWS credentials are for account ${id.account} (${id.arn}), but EXPECTED_AWS_ACCOUNT_ID is ` +
        `${expectedAccount}: switch AWS_PROFILE to the account the stacks are in`,
    });
  }
  const expectedRegion = config.EXPECTED_AWS_REGION;
  if (expectedRegion && config.AWS_REGION !== expectedRegion) {
    problems.push({
      message:
        `AWS_REGION is ${config.AWS_REGION}, but EXPECTED_AWS_REGION is ${expectedRegion}: ` +
        `the stacks are expected in ${expectedRegion}`,
    });
  }
  return { evidence, problems };
}

export async function instancesOnline(_: unknown, ctx: RunbookContext): Promise<Verdict> {
  const { ssm, deployment } = ctx;
  const instances = [
    ...deployment.nodes.map((n) => ({ id: n.instanceId, role: n.accountId })),
    ...(deployment.nearBase ? [{ id: deployment.nearBase.instanceId, role: 'NEAR base' }] : []),
  ];
  const ping = await pingStatus(
    ssm,
    instances.map((i) => i.id),
  );
  const offline = instances
    .filter((i) => ping.get(i.id) !== 'Online')
    .map((i) => `${i.role} (${i.id}): ${ping.get(i.id) ?? 'not managed by SSM'}`);
  const evidence = `${instances.length - offline.length}/${instances.length} Online`;
  if (!offline.length) return holds(evidence);
  return {
    evidence,
    problems: [
      {
        message:
          `not Online in SSM, so the runbook cannot look inside or repair them: ${offline.join('; ')}. ` +
          'Check the instance is running and its SSM agent is connected (EC2 console → Fleet Manager)',
      },
    ],
  };
}

const NOT_GIVEN = 'no keys manifest given (MPC_KEYS_FILE is unset): the manifest column says "not given"';

/** The manifest (or each candidate) parses and is self-consistent; gate and plan need only public keys. */
export function manifestUsable(_: unknown, ctx: RunbookContext): Verdict {
  if (ctx.manifestError) return fails(ctx.manifestError);
  if (!ctx.candidates.length) return holds(NOT_GIVEN);
  const said = ctx.candidates.map((c) => {
    const keys = c.manifest.publicOnly ? 'public keys only' : 'secret and public keys';
    return `${c.label}: ${c.manifest.nodes.length} node(s), ${keys}`;
  });
  return { evidence: said.join('\n'), warnings: ctx.candidates.flatMap((c) => c.manifest.warnings), problems: [] };
}

/** Fix restores keys from the manifest: it must hold the secret keys (a public-keys manifest is for gate and plan). */
export function manifestUsableForFix(_: unknown, ctx: RunbookContext): Verdict {
  const usable = manifestUsable(_, ctx);
  if (usable.problems.length) return usable;
  const missing = ctx.candidates.length
    ? ctx.candidates.map((c) => secretsMissing(c.manifest)).filter((m): m is string => !!m)
    : [secretsMissing(NO_MANIFEST)!];
  return { ...usable, problems: missing.map((message) => ({ message })) };
}

/**
 * The manifest belongs to this deployment: for at least one node, the entry it would use holds the key
 * on chain. A manifest of another deployment (or another revision) can repair nothing: one sentence,
 * and no step writes with it.
 */
export async function manifestOnChain(_: unknown, ctx: RunbookContext): Promise<Verdict> {
  if (!ctx.candidates.length || ctx.manifestError) return holds(NOT_GIVEN);
  const chain = await chainView(ctx);
  const choice = manifestChoice(ctx, chain);
  const onChain = choice.rows.filter((r) => r.used && r.accountOnChain);
  // With several candidates, which one each node uses is worth a line of its own.
  const uses = ctx.candidates.length > 1 ? choice.table.split('\n').filter((l) => /: uses /.test(l)) : [];
  const verdict: Verdict = { evidence: choice.table, warnings: choice.refusals, notices: uses, problems: [] };
  if (onChain.length) return verdict;
  const labels = ctx.candidates.map((c) => c.label).join(', ');
  const accounts = ctx.deployment.nodes.map((n) => n.accountId).join(', ');
  const message =
    `the keys manifest (${labels}) holds none of the keys on chain for ${accounts}: it is from another ` +
    'deployment or another revision, so nothing can be repaired with it. Find the revision whose keys are on ' +
    'chain — `npm run keys -- <file> git:<rev>:<path> …` shows it per node (`git log -- <path>` lists the ' +
    'revisions) — and set MPC_KEYS_FILE to it';
  return { ...verdict, problems: [{ message }] };
}

/** One fix run at a time, across machines: a fix run holds the lock; a gate or plan says whose it sees. */
export function holdsFixLock(): Verdict {
  const lock = fixLockState();
  if (lock.startsWith('refused: ')) return fails(`fix refused: ${lock.slice('refused: '.length)}`);
  if (lock.startsWith('held: ')) {
    const who = lock.slice('held: '.length);
    return holds(who, [`${who}: what this run observes may change under it`]);
  }
  return holds('no other fix run holds mpc-runbook/fix-lock');
}

/** The run names what it checks; a run that writes was pointed at its target explicitly. */
export function targetNamed(): Verdict {
  const refused = targetRefusal();
  const lookalikes = lookalikeVariables(process.env).map((v) => `${v.name} looks like ${v.closest} but is not it`);
  return {
    evidence: targetOf(process.env).says,
    warnings: lookalikes,
    problems: refused ? [{ message: refused }] : [],
  };
}
