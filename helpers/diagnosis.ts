/**
 * Judgement over the evidence of the four places (pure): which node disagrees where, and what the
 * runbook may safely do about it. A repair is offered only when the manifest can settle the
 * disagreement with a key that is on chain for that very account; otherwise the finding carries a
 * refusal that says why and what a person has to decide.
 */
import type { Finding, NodeEvidence, OnChainKey, SecretObservation } from './evidence.ts';
import { shortKey } from './keys.ts';
import { secretNames } from './node-secrets.ts';

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

export function diagnose(all: NodeEvidence[], opts: { contractId: string }): Finding[] {
  const findings: Finding[] = [];
  for (const ev of all) {
    const node = ev.index;
    const who = ev.accountId;
    const keys = ev.chain.accessKeys;
    const manifestPk = ev.manifest?.accountPublicKey;
    const manifestOk = onChain(keys, manifestPk);
    const add = (f: Omit<Finding, 'node'>) => findings.push({ node, ...f });

    // Account key -------------------------------------------------------------------------------
    if (!ev.chain.accountExists) {
      add({
        severity: 'error',
        role: 'account',
        place: 'chain',
        code: 'manifest-key-not-on-chain',
        message: `${who}: the account does not exist on chain`,
        refusal: 'create the account (or fix the stack outputs) by hand; the runbook never creates accounts',
      });
      continue;
    }
    let secretSettled = false;
    if (!ev.manifest) {
      add({
        severity: 'error',
        role: 'account',
        place: 'manifest',
        code: 'manifest-invalid',
        message: `${who}: no usable entry in the keys manifest`,
        refusal: 'fix the manifest entry for this node',
      });
    } else if (!manifestOk) {
      const holder = holderOf(all, manifestPk, node);
      add(
        holder
          ? {
              severity: 'error',
              role: 'account',
              place: 'manifest',
              code: 'key-on-wrong-account',
              message: `${who}: the manifest's account key ${shortKey(manifestPk)} is on ${holder.accountId}, not on ${who} (keys swapped between nodes?)`,
              refusal: 'the manifest cannot settle this: decide by hand which key belongs to which node',
            }
          : {
              severity: 'error',
              role: 'account',
              place: 'manifest',
              code: 'manifest-key-not-on-chain',
              message: `${who}: the manifest's account key ${shortKey(manifestPk)} is not an access key of ${who} (on chain: ${keys.map((k) => shortKey(k.publicKey)).join(', ') || 'none'})`,
              refusal: 'the manifest cannot settle this: add the key on chain or correct the manifest by hand',
            },
      );
    }
    const restoreAccount = manifestOk
      ? {
          kind: 'restore-secret' as const,
          node,
          role: 'account' as const,
          secretName: secretNames(node).account,
          publicKey: manifestPk!,
        }
      : undefined;
    const sm = ev.secretsManager.account;
    const secretFinding = (obs: SecretObservation) => {
      if (!obs.publicKey)
        return {
          code: 'secret-unusable' as const,
          message: `${who}: Secrets Manager ${obs.secretName} is ${obs.shape}: ${obs.problem ?? 'no key'}`,
        };
      if (!onChain(keys, obs.publicKey)) {
        const holder = holderOf(all, obs.publicKey, node);
        return {
          code: holder ? ('key-on-wrong-account' as const) : ('secret-not-on-chain' as const),
          message: `${who}: Secrets Manager ${obs.secretName} derives ${shortKey(obs.publicKey)}, which is ${holder ? `an access key of ${holder.accountId}` : 'not an access key'} of ${holder ? 'another node' : who}`,
        };
      }
      if (obs.shape !== 'plain')
        return {
          code: 'secret-shape' as const,
          message: `${who}: Secrets Manager ${obs.secretName} holds the right key but ${obs.problem}`,
        };
      return undefined;
    };
    const smf = secretFinding(sm);
    if (smf) {
      add({
        severity: 'error',
        role: 'account',
        place: 'secretsManager',
        ...smf,
        ...(restoreAccount
          ? { repair: restoreAccount }
          : { refusal: 'no manifest key for this account is on chain to restore from' }),
      });
      secretSettled = !!restoreAccount;
    } else secretSettled = true;

    // P2P key: its on-chain home is the participant's sign_pk ---------------------------------------
    const signPk = ev.chain.participantSignPk;
    const manifestP2p = ev.manifest?.p2pPublicKey;
    let p2pSettled = false;
    if (!signPk) {
      add({
        severity: 'error',
        role: 'p2p',
        place: 'chain',
        code: 'node-p2p-mismatch',
        message: `${who}: is not a participant of ${opts.contractId}`,
        refusal: 'participants change only through the contract (vote_new_parameters); not a runbook repair',
      });
    } else {
      const manifestP2pOk = manifestP2p === signPk;
      if (ev.manifest && !manifestP2pOk) {
        add({
          severity: 'error',
          role: 'p2p',
          place: 'manifest',
          code: 'p2p-secret-mismatch',
          message: `${who}: the manifest's p2p key ${shortKey(manifestP2p)} is not the participant sign_pk ${shortKey(signPk)}`,
          refusal: 'the manifest cannot settle this: the contract names another p2p key for this node',
        });
      }
      const p2p = ev.secretsManager.p2p;
      const restoreP2p = manifestP2pOk
        ? {
            kind: 'restore-secret' as const,
            node,
            role: 'p2p' as const,
            secretName: secretNames(node).p2p,
            publicKey: signPk,
          }
        : undefined;
      if (!p2p.publicKey || p2p.publicKey !== signPk || p2p.shape !== 'plain') {
        const message = !p2p.publicKey
          ? `${who}: Secrets Manager ${p2p.secretName} is ${p2p.shape}: ${p2p.problem ?? 'no key'}`
          : p2p.publicKey !== signPk
            ? `${who}: Secrets Manager ${p2p.secretName} derives ${shortKey(p2p.publicKey)}, the participant sign_pk is ${shortKey(signPk)}`
            : `${who}: Secrets Manager ${p2p.secretName} holds the right key but ${p2p.problem}`;
        add({
          severity: 'error',
          role: 'p2p',
          place: 'secretsManager',
          code: p2p.publicKey && p2p.publicKey === signPk ? 'secret-shape' : 'p2p-secret-mismatch',
          message,
          ...(restoreP2p
            ? { repair: restoreP2p }
            : { refusal: 'the manifest has no p2p key equal to the participant sign_pk' }),
        });
        p2pSettled = !!restoreP2p;
      } else p2pSettled = true;
    }

    // The node itself ---------------------------------------------------------------------------------
    const rematerialise =
      secretSettled && p2pSettled && manifestOk && signPk
        ? {
            kind: 'rematerialise-node-secrets' as const,
            node,
            instanceId: ev.instanceId,
            accountPublicKey: manifestPk!,
            p2pPublicKey: signPk,
          }
        : undefined;
    const notSettled =
      'fix Secrets Manager first (step 02); the node is only re-materialised from a secret whose key is on chain';
    if (!ev.node.reachable) {
      add({
        severity: 'error',
        role: 'account',
        place: 'node',
        code: 'node-unreachable',
        message: `${who}: /public_data on ${ev.privateIp}:8080 did not answer from inside the VPC${ev.node.error ? ` (${ev.node.error})` : ''}`,
        ...(rematerialise ? { repair: rematerialise } : { refusal: notSettled }),
      });
    } else {
      if (!onChain(keys, ev.node.signerPublicKey)) {
        add({
          severity: 'error',
          role: 'account',
          place: 'node',
          code: 'node-key-not-on-chain',
          message: `${who}: the node signs with ${shortKey(ev.node.signerPublicKey)} (/public_data), which is not an access key of ${who} — its transactions fail with AccessKeyNotFound`,
          ...(rematerialise ? { repair: rematerialise } : { refusal: notSettled }),
        });
      }
      if (signPk && ev.node.p2pPublicKey !== signPk) {
        add({
          severity: 'error',
          role: 'p2p',
          place: 'node',
          code: 'node-p2p-mismatch',
          message: `${who}: the node's p2p key ${shortKey(ev.node.p2pPublicKey)} is not its participant sign_pk ${shortKey(signPk)}`,
          ...(rematerialise ? { repair: rematerialise } : { refusal: notSettled }),
        });
      }
    }

    // Permissions of the keys the node uses -----------------------------------------------------------
    for (const k of keys) {
      if (k.permission === 'FullAccess') continue;
      const fc = k.permission.FunctionCall;
      const used = k.publicKey === ev.node.signerPublicKey || k.publicKey === manifestPk;
      if (!used) continue;
      const missing = fc.method_names.length ? NODE_METHODS.filter((m) => !fc.method_names.includes(m)) : [];
      if (fc.receiver_id !== opts.contractId || missing.length) {
        add({
          severity: 'error',
          role: 'account',
          place: 'chain',
          code: 'access-key-permission',
          message: `${who}: access key ${shortKey(k.publicKey)} ${fc.receiver_id !== opts.contractId ? `may only call ${fc.receiver_id}` : `does not allow ${missing.join(', ')}`}`,
          refusal: 'access key permissions are immutable: delete and re-add the key by hand',
        });
      }
    }

    // Account id as the manifest writes it --------------------------------------------------------------
    if (ev.manifest?.accountId && ev.manifest.accountId !== who) {
      add({
        severity: 'warning',
        role: 'account',
        place: 'manifest',
        code: 'account-id-mismatch',
        message: `${who}: the manifest says ${ev.manifest.accountId}; the chain and the stack say ${who} (the runbook uses ${who})`,
      });
    }
  }
  return findings;
}

export const errors = (f: Finding[]) => f.filter((x) => x.severity === 'error');
