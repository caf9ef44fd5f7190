/**
 * Judgement over the evidence of the four places (pure): which node disagrees where, and what the
 * runbook may safely do about it. A repair is offered only when the manifest can settle the
 * disagreement with a key that is on chain for that very account; otherwise the finding carries a
 * refusal that says why and what a person has to decide.
 */
import type {
  Finding,
  FunctionCallPermission,
  NodeEvidence,
  OnChainKey,
  Repair,
  SecretObservation,
} from './evidence.ts';
import { decimal, nearAmount } from './explain.ts';
import { shortKey } from './keys.ts';
import { secretNames } from './node-secrets.ts';

// The methods the node sends (mpc-facts §3.5); the twin lists them too, on purpose separately.
export const NODE_METHODS = [
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

/** Gas of every transaction the node sends (mpc-facts §3.5: 300 Tgas, no deposit). */
export const NODE_CALL_GAS = 300_000_000_000_000n;
/** Gas of turning a FunctionCall transaction into its receipt (nearcore's send fees, about 2.428 Tgas). */
export const TX_SEND_GAS = 2_428_000_000_000n;
/**
 * What one node call costs at a gas price, at least: nearcore checks the signer's balance and a FunctionCall
 * key's allowance against the prepaid gas plus the send fees before it accepts a transaction.
 */
export const nodeCallCost = (gasPrice: bigint) => (NODE_CALL_GAS + TX_SEND_GAS) * gasPrice;

const onChain = (keys: OnChainKey[], pk: string | undefined) => !!pk && keys.some((k) => k.publicKey === pk);

/** Which other node's account holds this key (swapped keys), if any. */
function holderOf(all: NodeEvidence[], pk: string | undefined, except: number): NodeEvidence | undefined {
  return pk ? all.find((n) => n.index !== except && onChain(n.chain.accessKeys, pk)) : undefined;
}

type Draft = Omit<Finding, 'node'>;
const error = (f: Omit<Draft, 'severity'>): Draft => ({ severity: 'error', ...f });

/** One node, judged with the others in view (a key may sit on another node's account). */
interface Judging {
  ev: NodeEvidence;
  all: NodeEvidence[];
  contractId: string;
  gasPrice: bigint | undefined;
  who: string;
  keys: OnChainKey[];
  /** A keys manifest was given at all (without one, its place is "not given", not a disagreement). */
  manifestGiven: boolean;
  add(f: Draft): void;
}

/** The manifest's account key: on this account, on another node's (swapped), or on none. */
function judgeManifestAccountKey(j: Judging): Repair | undefined {
  const { ev, who, keys } = j;
  const pk = ev.manifest?.accountPublicKey;
  if (!ev.manifest) {
    const message = `${who}: no usable entry in the keys manifest`;
    j.add(
      error({
        role: 'account',
        place: 'manifest',
        code: 'manifest-invalid',
        message,
        refusal: 'fix the manifest entry for this node',
      }),
    );
    return undefined;
  }
  if (onChain(keys, pk)) {
    return {
      kind: 'restore-secret',
      node: ev.index,
      role: 'account',
      secretName: secretNames(ev.index).account,
      publicKey: pk!,
    };
  }
  const holder = holderOf(j.all, pk, ev.index);
  if (holder) {
    j.add(
      error({
        role: 'account',
        place: 'manifest',
        code: 'key-on-wrong-account',
        message: `${who}: the manifest's account key ${shortKey(pk)} is on ${holder.accountId}, not on ${who}`,
        refusal: 'the manifest cannot settle this: decide by hand which key belongs to which node',
      }),
    );
  } else {
    const there = keys.map((k) => shortKey(k.publicKey)).join(', ') || 'none';
    const key = shortKey(pk);
    j.add(
      error({
        role: 'account',
        place: 'manifest',
        code: 'manifest-key-not-on-chain',
        message: `${who}: the manifest's account key ${key} is not an access key of ${who} (on chain: ${there})`,
        refusal: 'the manifest cannot settle this: add the key on chain or correct the manifest by hand',
      }),
    );
  }
  return undefined;
}

/** What is wrong with the account secret in Secrets Manager, if anything. */
function accountSecretProblem(j: Judging, obs: SecretObservation): Pick<Finding, 'code' | 'message'> | undefined {
  const { who } = j;
  const secret = `Secrets Manager ${obs.secretName}`;
  if (!obs.publicKey)
    return { code: 'secret-unusable', message: `${who}: ${secret} is ${obs.shape}: ${obs.problem ?? 'no key'}` };
  if (!onChain(j.keys, obs.publicKey)) {
    const holder = holderOf(j.all, obs.publicKey, j.ev.index);
    const whose = holder ? `an access key of ${holder.accountId}, another node` : `not an access key of ${who}`;
    const code = holder ? 'key-on-wrong-account' : 'secret-not-on-chain';
    return { code, message: `${who}: ${secret} derives ${shortKey(obs.publicKey)}, which is ${whose}` };
  }
  if (obs.shape !== 'plain')
    return { code: 'secret-shape', message: `${who}: ${secret} holds the right key but ${obs.problem}` };
  return undefined;
}

/** The account secret: settled when it is right, or when the manifest can restore it. */
function judgeAccountSecret(j: Judging, restore: Repair | undefined): boolean {
  const problem = accountSecretProblem(j, j.ev.secretsManager.account);
  if (!problem) return true;
  const none = j.manifestGiven ? 'no manifest key for this account is on chain' : 'no keys manifest was given';
  const remedy = restore ? { repair: restore } : { refusal: `${none} to restore from` };
  j.add(error({ role: 'account', place: 'secretsManager', ...problem, ...remedy }));
  return !!restore;
}

/** The p2p key, whose on-chain home is the participant's sign_pk: settled when right or restorable. */
function judgeP2pKey(j: Judging): boolean {
  const { ev, who } = j;
  const signPk = ev.chain.participantSignPk;
  if (!signPk) {
    j.add(
      error({
        role: 'p2p',
        place: 'chain',
        code: 'node-p2p-mismatch',
        message: `${who}: is not a participant of ${j.contractId}`,
        refusal: 'participants change only through the contract (vote_new_parameters); not a runbook repair',
      }),
    );
    return false;
  }
  const manifestP2p = ev.manifest?.p2pPublicKey;
  if (j.manifestGiven && ev.manifest && manifestP2p !== signPk) {
    const [theirs, chain] = [shortKey(manifestP2p), shortKey(signPk)];
    j.add(
      error({
        role: 'p2p',
        place: 'manifest',
        code: 'p2p-secret-mismatch',
        message: `${who}: the manifest's p2p key ${theirs} is not the participant sign_pk ${chain}`,
        refusal: 'the manifest cannot settle this: the contract names another p2p key for this node',
      }),
    );
  }
  const p2p = ev.secretsManager.p2p;
  if (p2p.publicKey === signPk && p2p.shape === 'plain') return true;
  const secret = `Secrets Manager ${p2p.secretName}`;
  const message = !p2p.publicKey
    ? `${who}: ${secret} is ${p2p.shape}: ${p2p.problem ?? 'no key'}`
    : p2p.publicKey !== signPk
      ? `${who}: ${secret} derives ${shortKey(p2p.publicKey)}, the participant sign_pk is ${shortKey(signPk)}`
      : `${who}: ${secret} holds the right key but ${p2p.problem}`;
  const restorable = manifestP2p === signPk;
  const remedy: Pick<Finding, 'repair' | 'refusal'> = restorable
    ? {
        repair: {
          kind: 'restore-secret',
          node: ev.index,
          role: 'p2p',
          secretName: secretNames(ev.index).p2p,
          publicKey: signPk,
        },
      }
    : {
        refusal: j.manifestGiven
          ? 'the manifest has no p2p key equal to the participant sign_pk'
          : 'no keys manifest was given to restore from',
      };
  const code = p2p.publicKey === signPk ? 'secret-shape' : 'p2p-secret-mismatch';
  j.add(error({ role: 'p2p', place: 'secretsManager', code, message, ...remedy }));
  return restorable;
}

const NOT_SETTLED =
  'fix Secrets Manager first (step 02); the node is only re-materialised from a secret whose key is on chain';

/** A running container has run since it started; a stopped one only last started then. */
const startedSaid = (c: { state: string; startedAt: string }) =>
  c.state === 'running' ? `since ${c.startedAt}` : `last started ${c.startedAt}`;

const NETWORK_PATH =
  'a network finding, not a key repair or a restart: the MPC security group must admit :8080 from the ' +
  "NEAR base's current address (its rule may name an address the NEAR base had before a redeploy)";

/**
 * A node the NEAR base got no answer from, seen from its own instance too (two vantage points): it
 * answers there — the network path (a warning for the keys, which were read there; step 03 is red on
 * it); its container is stopped — start it; it answers nowhere while its container runs — the node
 * itself (re-materialise when its secrets are settled). Returns whether its report can be judged.
 */
function judgeUnreachable(j: Judging, remedy: Pick<Finding, 'repair' | 'refusal'>): boolean {
  const { ev, who } = j;
  const self = ev.node;
  const why = self.error ?? 'no answer';
  const fromBase = `/public_data on ${ev.privateIp}:8080 did not answer from the NEAR base (${why})`;
  if (self.reachable) {
    const health = self.healthy ? 'answers /health 200' : 'answers (but /health is not 200)';
    const message = `${who}: ${fromBase}, but ${health} and /public_data on its own instance`;
    j.add({
      severity: 'warning',
      role: 'account',
      place: 'node',
      code: 'node-unreachable',
      message,
      refusal: NETWORK_PATH,
    });
    return true;
  }
  const c = self.container;
  const container = c ? `; on its instance the mpc-node container is ${c.state} (${startedSaid(c)})` : '';
  const message = `${who}: ${fromBase}${container}`;
  const add = (r: Pick<Finding, 'repair' | 'refusal'>) =>
    j.add(error({ role: 'account', place: 'node', code: 'node-unreachable', message, ...r }));
  if (c && (c.state === 'exited' || c.state === 'created')) {
    const start = { kind: 'start-container', node: ev.index, instanceId: ev.instanceId, state: c.state } as const;
    add({ repair: { ...start, since: c.startedAt } });
  } else if (c?.state === 'missing')
    add({ refusal: 'there is no mpc-node container on the instance: run its bootstrap (UserData) again by hand' });
  else add(remedy);
  return false;
}

/** The node itself: what it reports (/public_data) against the chain. */
function judgeNode(j: Judging, rematerialise: Repair | undefined) {
  const { ev, who, keys } = j;
  const remedy = rematerialise ? { repair: rematerialise } : { refusal: NOT_SETTLED };
  const signPk = ev.chain.participantSignPk;
  if ((!ev.node.reachable || ev.node.from === 'instance') && !judgeUnreachable(j, remedy)) return;
  if (!onChain(keys, ev.node.signerPublicKey)) {
    j.add(
      error({
        role: 'account',
        place: 'node',
        code: 'node-key-not-on-chain',
        message:
          `${who}: the node signs with ${shortKey(ev.node.signerPublicKey)} (/public_data), which is not an ` +
          `access key of ${who} — its transactions fail with AccessKeyNotFound`,
        ...remedy,
      }),
    );
  }
  if (signPk && ev.node.p2pPublicKey !== signPk) {
    const p2p = shortKey(ev.node.p2pPublicKey);
    const message =
      `${who}: the node's p2p key ${p2p} is not its participant sign_pk ${shortKey(signPk)} — it logs ` +
      '"We are not a participant in the current epoch" and stays out of the key generation';
    j.add(error({ role: 'p2p', place: 'node', code: 'node-p2p-mismatch', message, ...remedy }));
  }
}

/** The account keys the node signs with, or would after a repair: its own, the manifest's, Secrets Manager's. */
function keysInUse(j: Judging): OnChainKey[] {
  const { ev } = j;
  const used = [ev.node.signerPublicKey, ev.manifest?.accountPublicKey, ev.secretsManager.account.publicKey];
  return j.keys.filter((k) => used.includes(k.publicKey));
}

/** Why a FunctionCall key cannot sign what the node sends, in nearcore's words, or undefined when it can. */
function permissionProblem(fc: FunctionCallPermission, contractId: string): string | undefined {
  if (fc.receiver_id !== contractId) {
    return (
      `is a FunctionCall key for ${fc.receiver_id}, not ${contractId}: ` +
      'every transaction the node sends fails InvalidAccessKeyError(ReceiverMismatch)'
    );
  }
  const missing = fc.method_names.length ? NODE_METHODS.filter((m) => !fc.method_names.includes(m)) : [];
  if (!missing.length) return undefined;
  const attests = missing.includes('submit_participant_info');
  const first = attests ? ' — submit_participant_info first: it never attests' : '';
  return (
    `is a FunctionCall key for ${contractId} whose method_names lack ${missing.join(', ')}: ` +
    `the node's calls of those fail InvalidAccessKeyError(MethodNameMismatch)${first}`
  );
}

/** How an operator replaces an access key (the runbook never changes access keys). */
function replaceKeyRemedy(j: Judging, pk: string, what: string): string {
  const replace = `DeleteKey ${shortKey(pk)}, then AddKey the same public key ${what}`;
  const signer = j.keys.some((k) => k.permission === 'FullAccess')
    ? `signed with a FullAccess key of ${j.who}`
    : `signed with a FullAccess key of ${j.who} — it holds none, so nobody can change its keys: the node ` +
      'needs a new account (and a new participant entry)';
  const never = "an access key's permission cannot be changed in place, and the runbook never changes access keys";
  return `${never}: ${replace}, ${signer}`;
}

/** A FunctionCall key the node uses must allow the contract and its methods. */
function judgePermissions(j: Judging) {
  for (const k of keysInUse(j)) {
    if (k.permission === 'FullAccess') continue;
    const problem = permissionProblem(k.permission.FunctionCall, j.contractId);
    if (!problem) continue;
    const methods = `as FullAccess (as mpc-setup.ts adds it) or for ${j.contractId} with ${NODE_METHODS.join(', ')}`;
    j.add(
      error({
        role: 'account',
        place: 'chain',
        code: 'access-key-permission',
        message: `${j.who}: access key ${shortKey(k.publicKey)} ${problem}`,
        refusal: replaceKeyRemedy(j, k.publicKey, methods),
      }),
    );
  }
}

/** What one node call costs, said once per sentence that compares an amount against it. */
const costSentence = (cost: bigint, gasPrice: bigint) =>
  `one node call costs at least ${nearAmount(cost)} (${cost} yocto: ` +
  `${decimal(NODE_CALL_GAS + TX_SEND_GAS, 12)} Tgas at gas price ${gasPrice} yocto)`;

/** The node's account pays the gas and a FunctionCall key's allowance is charged it: both must cover one call. */
function judgeFunds(j: Judging) {
  if (j.gasPrice === undefined) return;
  const cost = nodeCallCost(j.gasPrice);
  const balance = j.ev.chain.balance;
  if (balance !== undefined && BigInt(balance) < cost) {
    j.add(
      error({
        role: 'account',
        place: 'chain',
        code: 'account-balance',
        message:
          `${j.who}: the account holds ${nearAmount(balance)} (${balance} yocto), less than ` +
          `${costSentence(cost, j.gasPrice)}: every transaction the node sends fails NotEnoughBalance`,
        refusal:
          `the runbook never moves funds: send ${j.who} NEAR from the account that funds the nodes ` +
          '(mpc-setup.ts gives each 10 NEAR from localnet), then the node retries by itself',
      }),
    );
  }
  for (const k of keysInUse(j)) {
    if (k.permission === 'FullAccess' || k.permission.FunctionCall.allowance === null) continue;
    const left = k.permission.FunctionCall.allowance;
    if (BigInt(left) >= cost) continue;
    j.add(
      error({
        role: 'account',
        place: 'chain',
        code: 'access-key-allowance',
        message:
          `${j.who}: access key ${shortKey(k.publicKey)} has ${nearAmount(left)} (${left} yocto) of allowance left, ` +
          `less than ${costSentence(cost, j.gasPrice)}: every transaction the node sends fails ` +
          'InvalidAccessKeyError(NotEnoughAllowance)',
        refusal: replaceKeyRemedy(j, k.publicKey, 'with a larger allowance (or none: allowance null is unlimited)'),
      }),
    );
  }
}

/** The account id as the manifest writes it (a stale .node0 suffix is a warning, not an error). */
function judgeManifestAccountId(j: Judging) {
  const said = j.ev.manifest?.accountId;
  if (!said || said === j.who) return;
  j.add({
    severity: 'warning',
    role: 'account',
    place: 'manifest',
    code: 'account-id-mismatch',
    message: `${j.who}: the manifest says ${said}; the chain and the stack say ${j.who} (the runbook uses ${j.who})`,
  });
}

function judge(j: Judging) {
  const { ev } = j;
  if (!ev.chain.accountExists) {
    j.add(
      error({
        role: 'account',
        place: 'chain',
        code: 'manifest-key-not-on-chain',
        message: `${j.who}: the account does not exist on chain`,
        refusal: 'create the account (or fix the stack outputs) by hand; the runbook never creates accounts',
      }),
    );
    return;
  }
  const restoreAccount = j.manifestGiven ? judgeManifestAccountKey(j) : undefined;
  const accountSettled = judgeAccountSecret(j, restoreAccount);
  const p2pSettled = judgeP2pKey(j);
  const signPk = ev.chain.participantSignPk;
  // The key the node must sign with: the manifest's (restored in 02), or Secrets Manager's when it is on chain.
  const smAccount = ev.secretsManager.account.publicKey;
  const accountKey =
    restoreAccount?.kind === 'restore-secret'
      ? restoreAccount.publicKey
      : onChain(j.keys, smAccount)
        ? smAccount
        : undefined;
  const rematerialise: Repair | undefined =
    accountSettled && p2pSettled && accountKey && signPk
      ? {
          kind: 'rematerialise-node-secrets',
          node: ev.index,
          instanceId: ev.instanceId,
          accountPublicKey: accountKey,
          p2pPublicKey: signPk,
        }
      : undefined;
  judgeNode(j, rematerialise);
  judgePermissions(j);
  judgeFunds(j);
  judgeManifestAccountId(j);
}

export interface DiagnoseOptions {
  contractId: string;
  manifestGiven?: boolean;
  /** The chain's gas price in yocto per gas: with it, balances and allowances are held against a node call. */
  gasPrice?: bigint;
}

export function diagnose(all: NodeEvidence[], opts: DiagnoseOptions): Finding[] {
  const findings: Finding[] = [];
  const manifestGiven = opts.manifestGiven ?? true;
  const { contractId, gasPrice } = opts;
  for (const ev of all) {
    const add = (f: Draft) => void findings.push({ node: ev.index, ...f });
    judge({ ev, all, contractId, gasPrice, who: ev.accountId, keys: ev.chain.accessKeys, manifestGiven, add });
  }
  return findings;
}

export const errors = (f: Finding[]) => f.filter((x) => x.severity === 'error');
