/**
 * Judgement over the evidence of the four places (pure): which node disagrees where, and what the
 * runbook may safely do about it. A repair is offered only when the manifest can settle the
 * disagreement with a key that is on chain for that very account; otherwise the finding carries a
 * refusal that says why and what a person has to decide.
 */
import type { Finding, NodeEvidence, OnChainKey, Repair, SecretObservation } from './evidence.ts';
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
    const message = `${who}: the node's p2p key ${p2p} is not its participant sign_pk ${shortKey(signPk)}`;
    j.add(error({ role: 'p2p', place: 'node', code: 'node-p2p-mismatch', message, ...remedy }));
  }
}

/** The permissions of the keys the node uses: a FunctionCall key must allow the contract and its methods. */
function judgePermissions(j: Judging) {
  const { ev, who } = j;
  for (const k of j.keys) {
    if (k.permission === 'FullAccess') continue;
    const used = k.publicKey === ev.node.signerPublicKey || k.publicKey === ev.manifest?.accountPublicKey;
    if (!used) continue;
    const fc = k.permission.FunctionCall;
    const missing = fc.method_names.length ? NODE_METHODS.filter((m) => !fc.method_names.includes(m)) : [];
    if (fc.receiver_id === j.contractId && !missing.length) continue;
    const what =
      fc.receiver_id !== j.contractId ? `may only call ${fc.receiver_id}` : `does not allow ${missing.join(', ')}`;
    j.add(
      error({
        role: 'account',
        place: 'chain',
        code: 'access-key-permission',
        message: `${who}: access key ${shortKey(k.publicKey)} ${what}`,
        refusal: 'access key permissions are immutable: delete and re-add the key by hand',
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
  judgeManifestAccountId(j);
}

export function diagnose(all: NodeEvidence[], opts: { contractId: string; manifestGiven?: boolean }): Finding[] {
  const findings: Finding[] = [];
  const manifestGiven = opts.manifestGiven ?? true;
  for (const ev of all) {
    const add = (f: Draft) => void findings.push({ node: ev.index, ...f });
    judge({ ev, all, contractId: opts.contractId, who: ev.accountId, keys: ev.chain.accessKeys, manifestGiven, add });
  }
  return findings;
}

export const errors = (f: Finding[]) => f.filter((x) => x.severity === 'error');
