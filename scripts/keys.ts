/**
 * npm run keys -- [<candidate>…] [--accounts mpc-node-0.localnet,…]: which keys manifest holds the
 * keys that are on chain, per node. Candidates are files or git:<rev>:<path> revisions of a file
 * (default: MPC_KEYS_FILE, comma-separated). Read-only; prints public keys only.
 *
 * Needs the NEAR RPC (NEAR_RPC_URL, MPC_CONTRACT_ID) and the node accounts: from the MPC stack's
 * outputs (AWS_REGION, MPC_STACK_NAME, as the runbook discovers them) or --accounts (no AWS).
 * Exit 0: every node has a candidate whose keys are on chain; 1: some node has none (or a
 * refusal); 2: usage, configuration or a candidate that cannot be read.
 */
import { parseArgs } from 'node:util';
import { config as loadDotenv } from 'dotenv';
import { discoverNodes } from '../helpers/aws/cloudformation.ts';
import { classified } from '../helpers/errors.ts';
import {
  type ChainNodeKeys,
  chooseManifestKeys,
  isCandidateLoadError,
  loadCandidates,
} from '../helpers/manifest-candidates.ts';
import { type Participant, participantsOf } from '../helpers/near/contract-state.ts';
import { nearClient } from '../helpers/near/rpc.ts';
import { nearOrigin } from '../helpers/harness/context.ts';
import { redactor } from '../helpers/redact.ts';

const USAGE =
  'usage: npm run keys -- [<file> | git:<rev>:<path> …] [--accounts mpc-node-0.localnet,mpc-node-1.localnet,…]\n' +
  '  candidates default to MPC_KEYS_FILE (comma-separated); accounts default to the MPC stack outputs\n';

const say = (text: string) => process.stdout.write(redactor.redact(text));
const stop = (code: number, text: string): never => {
  process.stderr.write(redactor.redact(text));
  process.exit(code);
};

loadDotenv({ quiet: true });
const env = process.env;
let args: { values: { accounts?: string; help?: boolean }; positionals: string[] };
try {
  args = parseArgs({
    options: { accounts: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
} catch (e) {
  stop(2, `keys: ${(e as Error).message}\n${USAGE}`);
}
if (args!.values.help) stop(0, USAGE);
const spec = args!.positionals.length ? args!.positionals : (env.MPC_KEYS_FILE ?? '');
if (!spec.length) stop(2, `keys: no candidate given and MPC_KEYS_FILE is not set\n${USAGE}`);
const rpcUrl = env.NEAR_RPC_URL;
if (!rpcUrl)
  stop(2, 'keys: NEAR_RPC_URL is not set (e.g. an SSM port-forward to the NEAR base: http://localhost:3030)\n');
const contractId = env.MPC_CONTRACT_ID || 'v1.signer.localnet';

const accounts = await nodeAccounts(args!.values.accounts);
let candidates: ReturnType<typeof loadCandidates>;
try {
  candidates = loadCandidates(spec, {
    nodeCount: accounts.length,
    accountIdFor: (i) => accounts.find((a) => a.index === i)?.accountId ?? `node-${i}`,
  });
} catch (e) {
  if (isCandidateLoadError(e)) stop(2, `keys: ${e.message}\n`);
  throw e;
}

const near = nearClient(rpcUrl!, contractId, { requestTimeoutMs: Number(env.RUNBOOK_RPC_TIMEOUT_S || 10) * 1000 });
const origin = nearOrigin({ NEAR_RPC_URL: rpcUrl! });
const keys = await near.onChainKeys(accounts.map((a) => a.accountId)).catch((e: unknown) => {
  stop(2, `keys: ${classified(e, origin).message}\n`);
});
let stateNote = '';
const participants = await near
  .contractState()
  .then(participantsOf)
  .catch((e: unknown) => {
    stateNote = `\n(the participants' sign_pk could not be read: ${classified(e, origin).message.split('\n')[0]})`;
    return [] as Participant[];
  });
const chain: ChainNodeKeys[] = accounts.map((a) => {
  const signPk = participants.find((p) => p[0] === a.accountId)?.[2].sign_pk;
  return {
    ...a,
    accessKeys: (keys!.get(a.accountId) ?? []).map((k) => k.publicKey),
    ...(signPk ? { signPk } : {}),
  };
});
const choice = chooseManifestKeys(candidates!, chain);
const allOnChain = choice.nodes.every((n) =>
  choice.rows.some((r) => r.index === n.index && r.used && r.accountOnChain && r.p2pIsSignPk !== false),
);
say(`${choice.table}${stateNote}\n`);
say(
  allOnChain
    ? `\nevery node has a candidate whose keys are on chain (${contractId} at ${rpcUrl})\n`
    : '\nnot every node has a candidate whose keys are on chain: the runbook will refuse to repair those nodes\n',
);
process.exit(allOnChain ? 0 : 1);

/** The node accounts: --accounts (index = position), or the MPC stack's outputs. */
async function nodeAccounts(list: string | undefined): Promise<{ index: number; accountId: string }[]> {
  if (list !== undefined) {
    const ids = list
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!ids.length) stop(2, `keys: --accounts is empty\n${USAGE}`);
    return ids.map((accountId, index) => ({ index, accountId }));
  }
  const region = env.AWS_REGION;
  if (!region) stop(2, 'keys: AWS_REGION is not set (needed to read the MPC stack outputs; or pass --accounts)\n');
  const stack = env.MPC_STACK_NAME || 'MpcStandaloneStack';
  try {
    return (await discoverNodes(region!, stack)).map((n) => ({ index: n.index, accountId: n.accountId }));
  } catch (e) {
    const where = {
      system: `AWS CloudFormation in ${region}`,
      setting: 'AWS_REGION, AWS_PROFILE and AWS_ENDPOINT_URL',
    };
    return stop(2, `keys: ${classified(e, where).message}\n(or pass --accounts to skip AWS)\n`);
  }
}
