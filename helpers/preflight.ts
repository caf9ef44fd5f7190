/**
 * The claims of step 00 (preflight): the runbook can see the whole Layer 3 — the deployment in its
 * stack outputs, a NEAR RPC on the expected chain that is synced and advancing, the MPC contract,
 * AWS credentials of the expected account and region, every instance online in SSM, a usable keys
 * manifest, and (in a fix run) the fix lock. Each returns a verdict with its evidence.
 */
import { fixLockHolder } from './aws/fix-lock.ts';
import { pingStatus } from './aws/ssm.ts';
import { callerIdentity } from './aws/sts.ts';
import { classified } from './errors.ts';
import { awsOrigin, nearOrigin, type RunbookContext } from './harness/context.ts';
import type { Verdict } from './harness/claim.ts';
import { FIX_LOCK_HELD, fixLockState, targetRefusal } from './harness/run-state.ts';
import { lookalikeVariables } from './config.ts';
import { targetOf } from './target.ts';
import { waitUntil } from './retry.ts';
import { NO_MANIFEST, secretsMissing } from './manifest.ts';
import { type ChainView, chainView, lookAtFleetEarly, manifestChoice } from './observe.ts';
import { type ContractState, progressSentence } from './near/contract-state.ts';

const fails = (message: string): Verdict => ({ problems: [{ message }] });
const holds = (evidence: string, warnings: string[] = []): Verdict => ({ evidence, warnings, problems: [] });

export function deploymentDiscovered(_: unknown, ctx: RunbookContext): Verdict {
  const { deployment, config } = ctx;
  const nodes = deployment.nodes.map((n) => `${n.accountId}=${n.instanceId}@${n.privateIp}`).join(', ');
  const base = deployment.nearBase?.instanceId ?? 'not found';
  const evidence = `stack ${config.MPC_STACK_NAME}: ${nodes}; NEAR base ${base}`;
  const baseMissing = deployment.nearBaseMissing ?? `none in stack ${config.NEAR_STACK_NAME}`;
  const problems = [
    ...(deployment.nodes.length ? [] : [{ message: `no MPC nodes in the outputs of stack ${config.MPC_STACK_NAME}` }]),
    ...(deployment.nearBase ? [] : [{ message: `no NEAR base instance: ${baseMissing}` }]),
  ];
  return { evidence, problems };
}

export async function nearRpcAnswers(_: unknown, ctx: RunbookContext): Promise<Verdict> {
  const { near, config } = ctx;
  const first = await near.status().catch((e: unknown) => {
    throw classified(e, nearOrigin(config));
  });
  const h0 = first.sync_info.latest_block_height;
  // Poll until the head moves (no fixed sleep): first after 150 ms, then less and less often (a block takes
  // 0.5–1 s; three or four reads see it). A stalled chain fails after 15 s.
  const second = await waitUntil(
    'the NEAR head to advance',
    async () => {
      const s = await near.status();
      return s.sync_info.latest_block_height > h0 ? s : undefined;
    },
    { timeoutMs: 15_000, firstAfterMs: 150, intervalMs: (n) => Math.min(150 * 1.5 ** n, 1_000) },
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

/** The MPC contracts the runbook knows by code hash (mpc-facts §1.0: the archived wasms of near/mpc). */
export const KNOWN_CONTRACTS: Record<string, string> = {
  '4SKLfbnrk2BL8zKTVxLybwXLq8TMLgaCbBaJ9JHfdCCU':
    'the MPC contract 3.0.2 (the deployed one, infra/aws-cdk/mpc-contract.wasm)',
  AwGsqzBktLoUvdnUsNVrP8hFea3SywdRYHzmPead4Jts: 'the MPC contract 2.2.0 (no TEE methods: no submit_participant_info)',
};
const KNOWN_LIST = Object.entries(KNOWN_CONTRACTS)
  .map(([hash, what]) => `${hash} = ${what.replace(/^the MPC contract (\S+).*$/, '$1')}`)
  .join(', ');
const TWO_TWO_ZERO = 'AwGsqzBktLoUvdnUsNVrP8hFea3SywdRYHzmPead4Jts';

const DEPLOY =
  'deploy the MPC contract 3.0.2 (infra/aws-cdk/mpc-contract.wasm; the 1.2 MB wasm needs 50–60 NEAR on the ' +
  'account, or the deploy fails LackBalanceForState) and init it, or set MPC_CONTRACT_ID to the account that holds it';
const INIT =
  'initialise it: init {"parameters": {"participants": …, "threshold": …}} signed by the contract account, with ' +
  "every node's account, id, p2p public key (sign_pk) and URL — the consumer's mpc-setup.ts does this, then every " +
  'participant votes vote_add_domains; the runbook never initialises a contract';
const VOTE_DOMAINS =
  'every participant must sign vote_add_domains {"domains":[{"id":0,"scheme":"Secp256k1"}]} with the identical ' +
  "list (the consumer's mpc-setup.ts does this; the runbook casts no votes)";

/** What the contract account holds, as evidence: its code hash and whether the runbook knows it. */
export interface ContractSeen {
  contractId: string;
  codeHash: string;
  /** version() as it answered, or the error it failed with. */
  version: { value: unknown } | { error: string };
  state?: ContractState;
}

const codeSaid = (hash: string) =>
  `code_hash ${hash} (${KNOWN_CONTRACTS[hash] ?? 'not a code hash the runbook knows'})`;

/** A contract that answers version() with a semver: which one, and what is worth knowing about its state. */
function answeringContract(c: ContractSeen, version: unknown): Verdict {
  const id = c.contractId;
  const state = c.state ? progressSentence(c.state) : 'state unreadable';
  const evidence = `${id}: ${codeSaid(c.codeHash)}, version ${version}, ${state}`;
  if (!/^\d+\.\d+\.\d+$/.test(String(version))) {
    return { evidence, problems: [{ message: `${id}.version() gave ${JSON.stringify(version)}` }] };
  }
  const warnings: string[] = [];
  if (!KNOWN_CONTRACTS[c.codeHash]) {
    warnings.push(
      `${id}: code_hash ${c.codeHash} is not one the runbook knows (${KNOWN_LIST}); version() says ${version}`,
    );
  }
  if (c.codeHash === TWO_TWO_ZERO) {
    warnings.push(`${id} is the MPC contract 2.2.0: nodes of 3.x call submit_participant_info, which it does not have`);
  }
  if (c.state && c.state !== 'NotInitialized' && 'Running' in c.state && !c.state.Running.domains.domains.length) {
    warnings.push(
      `${id} is Running with no domain: the participants never voted vote_add_domains, so there is no key to ` +
        `sign with (public_key fails "No such domain.") and step 04 stays red — ${VOTE_DOMAINS}`,
    );
  }
  return { evidence, warnings, problems: [] };
}

/** The contract account judged from its code hash, version() and state (pure; contractDeployed gathers them). */
export function judgeContract(c: ContractSeen): Verdict {
  const id = c.contractId;
  if (c.codeHash === NO_CODE) {
    const message =
      `${id} exists but holds no contract code (code_hash ${NO_CODE}; the MPC contract would be one of ` +
      `${KNOWN_LIST}): its views fail CodeDoesNotExist and every node logs "error reading config from chain" — ` +
      DEPLOY;
    return { evidence: `${id}: code_hash ${NO_CODE} (no code)`, problems: [{ message }] };
  }
  if ('value' in c.version) return answeringContract(c, c.version.value);
  const why = c.version.error;
  const evidence = `${id}: ${codeSaid(c.codeHash)}; version() failed: ${why}`;
  if (/Calling default not allowed/.test(why)) {
    const message =
      `${id} holds ${KNOWN_CONTRACTS[c.codeHash] ?? `code_hash ${c.codeHash}`} but was never initialised: every ` +
      'view that reads its state panics "Calling default not allowed." and every node logs "error reading config ' +
      `from chain" — ${INIT}`;
    return { evidence, problems: [{ message }] };
  }
  if (/method is not found|MethodNotFound/.test(why)) {
    const message =
      `${id} holds code_hash ${c.codeHash}, which is no MPC contract the runbook knows (${KNOWN_LIST}): it has no ` +
      `version() method (MethodNotFound), so it is another contract and every node logs "error reading config from ` +
      `chain" — ${DEPLOY}`;
    return { evidence, problems: [{ message }] };
  }
  return { evidence, problems: [{ message: `${id}.version() failed: ${why}` }] };
}

/** The chain view of this preflight (one per context: contractDeployed and manifestOnChain share it). */
const chainOfContext = new WeakMap<RunbookContext, Promise<ChainView>>();
function chainOf(ctx: RunbookContext): Promise<ChainView> {
  let view = chainOfContext.get(ctx);
  if (!view) {
    view = chainView(ctx);
    chainOfContext.set(ctx, view);
  }
  return view;
}

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
  const codeHash = String(account.code_hash);
  if (codeHash === NO_CODE) return judgeContract({ contractId: id, codeHash, version: { error: 'no code' } });
  const [version, chain] = await Promise.all([
    near.contractView<string>('version').then(
      (value) => ({ value }),
      (e: Error) => {
        if (!/wasm execution failed|method is not found|Contract code/.test(e.message)) throw e;
        return { error: e.message.replace(/^view version on \S+: /, '') };
      },
    ),
    chainOf(ctx),
  ]);
  return judgeContract({ contractId: id, codeHash, version, ...(chain.state ? { state: chain.state } : {}) });
}

/** The runs whose AWS identity held: only into the expected account and region do commands go out early. */
const identityHeld = new Set<string>();

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
  if (!problems.length) identityHeld.add(ctx.runId);
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
  if (!offline.length) {
    if (identityHeld.has(ctx.runId)) lookAtFleetEarly(ctx);
    return holds(evidence);
  }
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
  const chain = await chainOf(ctx);
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
export async function holdsFixLock(_: unknown, ctx: RunbookContext): Promise<Verdict> {
  const lock = fixLockState();
  if (lock.startsWith('refused: ')) return fails(`fix refused: ${lock.slice('refused: '.length)}`);
  if (lock === FIX_LOCK_HELD) return holds('this fix run holds mpc-runbook/fix-lock');
  const region = ctx.config.AWS_REGION;
  const read = await fixLockHolder(process.env).then(
    (who) => ({ who }),
    (e: unknown) => ({ unread: classified(e, awsOrigin('Secrets Manager', region)).message.split('\n')[0] }),
  );
  if ('unread' in read)
    return holds('the fix lock was not read', [`a fix run may hold the lock, unread: ${read.unread}`]);
  if (read.who) return holds(read.who, [`${read.who}: what this run observes may change under it`]);
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
