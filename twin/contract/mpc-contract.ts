/**
 * In-memory model of the v1.signer contract (3.0.2 as deployed on the user's localnet; state JSON
 * field names as HEAD): the protocol state machine, key events with all-N voting and expiry, mock
 * attestations bound to the signing key, and the public-key views.
 */
import type { CallContext, ContractModel, ContractOutcome, ViewContext } from '../near/contract-host.ts';
import { deriveKeySecp256k1, deriveTweak, nearKeyToPoint } from './kdf.ts';

type ParticipantInfo = { url: string; sign_pk: string };
type Participant = [string, number, ParticipantInfo];
interface Parameters {
  participants: { next_id: number; participants: Participant[] };
  threshold: number;
}
interface Domain {
  id: number;
  scheme: string;
}
type PublicKeyExtended = { Secp256k1: { near_public_key: string } };
interface KeyForDomain {
  domain_id: number;
  key: PublicKeyExtended;
  attempt: number;
}
interface Instance {
  attempt_id: number;
  started_in: number;
  expires_on: number;
  completed: number[];
  public_key: PublicKeyExtended | null;
}
interface KeyEvent {
  epoch_id: number;
  domain: Domain;
  parameters: Parameters;
  instance: Instance | null;
  next_attempt_id: number;
}
interface KeyEventId {
  epoch_id: number;
  domain_id: number;
  attempt_id: number;
}
interface Registry {
  domains: Domain[];
  next_domain_id: number;
}

type State =
  | {
      Running: {
        domains: Registry;
        keyset: { epoch_id: number; domains: KeyForDomain[] };
        parameters: Parameters;
        parameters_votes: { proposal_by_account: Record<string, unknown> };
        add_domains_votes: { proposal_by_account: Record<string, Domain[]> };
        previously_cancelled_resharing_epoch_id: number | null;
      };
    }
  | {
      Initializing: {
        domains: Registry;
        epoch_id: number;
        generated_keys: KeyForDomain[];
        generating_key: KeyEvent;
        cancel_votes: number[];
      };
    };

interface AttestationEntry {
  account_id: string;
  tls_public_key: string;
  account_public_key: string | null;
  attestation: unknown;
}

class Panic extends Error {}
const panic = (message: string): never => {
  throw new Panic(message);
};

export type MpcContract = ContractModel & {
  state(): unknown;
  /** Twin scenario knob (no contract method): forget the attestation stored under a TLS key. */
  dropAttestation(tlsPublicKey: string): boolean;
};

/** NEAR's storage price: 10^19 yoctoNEAR per byte. */
const STORAGE_BYTE_COST = 10n ** 19n;
/** Bytes a new attestation entry adds (map key + NodeId{account_id, tls key, Some(account key)} + Mock). */
const attestationEntryBytes = (accountId: string) => BigInt(40 + 4 + accountId.length + 33 + 34 + 2);

/** The contract's storage: the protocol state (undefined until `init`), its config, the stored attestations. */
interface Storage {
  state: State | undefined;
  config: { key_event_timeout_blocks: number; tee_upgrade_deadline_duration_seconds: number };
  attestations: Map<string, AttestationEntry>;
}
// biome-ignore lint/suspicious/noExplicitAny: JSON arguments, checked per method as the contract's serde does
type CallMethod = (args: any, ctx: CallContext, logs: string[]) => unknown;
// biome-ignore lint/suspicious/noExplicitAny: JSON arguments, checked per method as the contract's serde does
type ViewMethod = (args: any, ctx: ViewContext) => unknown;

/** `impl Default for MpcContract` panics: every method that loads the state fails before `init`. */
const loaded = (c: Storage): State => c.state ?? panic('Calling default not allowed.');
const clone = <T>(v: T): T => structuredClone(v);

function validateParameters(p: Parameters) {
  const n = p.participants.participants.length;
  const k = p.threshold;
  if (k > n) panic('Threshold must not exceed number of participants');
  if (k < 2) panic('Threshold does not meet the minimum absolute requirement');
  if (k * 5 < 3 * n) panic('Threshold does not meet the minimum relative requirement');
  const ids = new Set(p.participants.participants.map((x) => x[1]));
  const accounts = new Set(p.participants.participants.map((x) => x[0]));
  if (ids.size !== n || accounts.size !== n) panic('Participants are not unique');
  if (p.participants.participants.some((x) => x[1] >= p.participants.next_id))
    panic('Participant ids must be below next_id');
}

const activeParameters = (s: State): Parameters =>
  'Running' in s ? s.Running.parameters : s.Initializing.generating_key.parameters;
const participantOf = (p: Parameters, account: string) => p.participants.participants.find((x) => x[0] === account);
const leaderOf = (p: Parameters) => [...p.participants.participants].sort((a, b) => a[1] - b[1])[0]!;

function requireAttestedParticipant(c: Storage, s: State, ctx: CallContext) {
  const me = participantOf(activeParameters(s), ctx.signerId);
  const entry = me && c.attestations.get(me[2].sign_pk);
  if (!me || !entry || entry.account_id !== ctx.signerId) panic('Caller must be an attested participant');
  if (entry!.account_public_key !== null && entry!.account_public_key !== ctx.signerPublicKey)
    panic('Caller must be an attested participant');
  return me!;
}

const activeInstance = (ev: KeyEvent, height: number) =>
  ev.instance && height < ev.instance.expires_on ? ev.instance : null;

function checkKeyEventId(ev: KeyEvent, id: KeyEventId, attempt: number) {
  if (id.epoch_id !== ev.epoch_id || id.domain_id !== ev.domain.id || id.attempt_id !== attempt)
    panic('Key event Id mismatch');
}

function keyEventFor(domain: Domain, epoch: number, parameters: Parameters): KeyEvent {
  return { epoch_id: epoch, domain, parameters: clone(parameters), instance: null, next_attempt_id: 0 };
}

/** init, init_running, domain voting and the TEE attestation. */
function setupCalls(c: Storage): Record<string, CallMethod> {
  return {
    init(args) {
      if (c.state) panic('The contract has already been initialized');
      const parameters = args?.parameters as Parameters | undefined;
      if (!parameters) panic('missing field `parameters`');
      validateParameters(parameters!);
      if (args.init_config?.key_event_timeout_blocks)
        c.config = { ...c.config, key_event_timeout_blocks: args.init_config.key_event_timeout_blocks };
      c.state = {
        Running: {
          domains: { domains: [], next_domain_id: 0 },
          keyset: { epoch_id: 0, domains: [] },
          parameters: clone(parameters!),
          parameters_votes: { proposal_by_account: {} },
          add_domains_votes: { proposal_by_account: {} },
          previously_cancelled_resharing_epoch_id: null,
        },
      };
      for (const [account_id, , info] of parameters!.participants.participants) {
        c.attestations.set(info.sign_pk, {
          account_id,
          tls_public_key: info.sign_pk,
          account_public_key: null,
          attestation: { Mock: 'Valid' },
        });
      }
    },
    init_running(args, ctx) {
      if (c.state) panic('The contract has already been initialized');
      if (ctx.predecessorId !== ctx.contractId) panic('Method init_running is private');
      validateParameters(args.parameters);
      c.state = {
        Running: {
          domains: { domains: args.domains, next_domain_id: args.next_domain_id },
          keyset: args.keyset,
          parameters: clone(args.parameters),
          parameters_votes: { proposal_by_account: {} },
          add_domains_votes: { proposal_by_account: {} },
          previously_cancelled_resharing_epoch_id: null,
        },
      };
      for (const [account_id, , info] of (args.parameters as Parameters).participants.participants) {
        c.attestations.set(info.sign_pk, {
          account_id,
          tls_public_key: info.sign_pk,
          account_public_key: null,
          attestation: { Mock: 'Valid' },
        });
      }
    },
    vote_add_domains(args, ctx) {
      const s = loaded(c);
      if (!('Running' in s)) return panic('The protocol is not Running');
      const r = s.Running;
      const me = participantOf(r.parameters, ctx.signerId) ?? panic('Not a participant');
      r.add_domains_votes.proposal_by_account[String(me[1])] = args.domains;
      const proposal = JSON.stringify(args.domains);
      const votes = Object.values(r.add_domains_votes.proposal_by_account).filter(
        (d) => JSON.stringify(d) === proposal,
      ).length;
      if (votes < r.parameters.participants.participants.length) return;
      const domains: Domain[] = args.domains;
      const registry = {
        domains: [...r.domains.domains, ...domains],
        next_domain_id: Math.max(r.domains.next_domain_id, ...domains.map((d) => d.id + 1)),
      };
      c.state = {
        Initializing: {
          domains: registry,
          epoch_id: r.keyset.epoch_id,
          generated_keys: clone(r.keyset.domains),
          generating_key: keyEventFor(domains[0]!, r.keyset.epoch_id, r.parameters),
          cancel_votes: [],
        },
      };
    },
    submit_participant_info(args, ctx) {
      loaded(c);
      if (ctx.signerId !== ctx.predecessorId)
        panic(`Caller must be the signer account (signer: ${ctx.signerId}, predecessor: ${ctx.predecessorId})`);
      if (!String(ctx.signerPublicKey).startsWith('ed25519:')) panic('Signer public key must be an ED25519 key');
      const attestation = args.proposed_participant_attestation;
      if (JSON.stringify(attestation) !== JSON.stringify({ Mock: 'Valid' })) panic('Invalid TEE Remote Attestation.');
      const tls = String(args.tls_public_key);
      // The caller pays the storage when the TLS key had no attestation yet or it is not a voter (§1.7).
      const voter = participantOf(activeParameters(loaded(c)), ctx.signerId);
      if (!c.attestations.has(tls) || !voter) {
        const required = attestationEntryBytes(ctx.signerId) * STORAGE_BYTE_COST;
        if (ctx.attachedDeposit < required) panic(`Attached ${ctx.attachedDeposit}, Required ${required}`);
      }
      c.attestations.set(tls, {
        account_id: ctx.signerId,
        tls_public_key: tls,
        account_public_key: ctx.signerPublicKey,
        attestation,
      });
    },
  };
}

/** The key event of an Initializing contract: the leader starts an attempt, every participant votes. */
function keyEventCalls(c: Storage): Record<string, CallMethod> {
  return {
    start_keygen_instance(args, ctx) {
      const s = loaded(c);
      if (!('Initializing' in s)) return panic('Protocol state is not initializing.');
      requireAttestedParticipant(c, s, ctx);
      const ev = s.Initializing.generating_key;
      if (leaderOf(ev.parameters)[0] !== ctx.signerId)
        panic('Voting account is not the leader of the current reshare or keygen instance.');
      if (activeInstance(ev, ctx.blockHeight))
        panic('Can not start a new reshare or keygen instance while the current instance is still active.');
      checkKeyEventId(ev, args.key_event_id, ev.next_attempt_id);
      ev.instance = {
        attempt_id: ev.next_attempt_id,
        started_in: ctx.blockHeight,
        expires_on: ctx.blockHeight + 1 + c.config.key_event_timeout_blocks,
        completed: [],
        public_key: null,
      };
      ev.next_attempt_id += 1;
    },
    vote_pk(args, ctx, logs) {
      const s = loaded(c);
      if (!('Initializing' in s)) return panic('Protocol state is not initializing.');
      const me = requireAttestedParticipant(c, s, ctx);
      const init = s.Initializing;
      const ev = init.generating_key;
      const inst = activeInstance(ev, ctx.blockHeight) ?? panic('Expected ongoing reshare');
      checkKeyEventId(ev, args.key_event_id, inst!.attempt_id);
      try {
        nearKeyToPoint(String(args.public_key));
      } catch {
        panic('invalid public key');
      }
      if (inst!.completed.includes(me[1])) panic('Vote already casted.');
      const key: PublicKeyExtended = { Secp256k1: { near_public_key: args.public_key } };
      if (inst!.public_key && inst!.public_key.Secp256k1.near_public_key !== args.public_key) {
        logs.push('Public key disagreement; aborting key event instance.');
        ev.instance = null;
        return;
      }
      inst!.public_key = key;
      inst!.completed.push(me[1]);
      if (inst!.completed.length < ev.parameters.participants.participants.length) return;
      init.generated_keys.push({ domain_id: ev.domain.id, key, attempt: inst!.attempt_id });
      const next = init.domains.domains.find((d) => !init.generated_keys.some((k) => k.domain_id === d.id));
      if (next) {
        init.generating_key = keyEventFor(next, init.epoch_id, ev.parameters);
        return;
      }
      c.state = {
        Running: {
          domains: init.domains,
          keyset: { epoch_id: init.epoch_id, domains: init.generated_keys },
          parameters: ev.parameters,
          parameters_votes: { proposal_by_account: {} },
          add_domains_votes: { proposal_by_account: {} },
          previously_cancelled_resharing_epoch_id: null,
        },
      };
    },
    vote_abort_key_event_instance(args, ctx) {
      const s = loaded(c);
      if (!('Initializing' in s)) return panic('Protocol state is not initializing.');
      const me = requireAttestedParticipant(c, s, ctx);
      const ev = s.Initializing.generating_key;
      const inst = activeInstance(ev, ctx.blockHeight) ?? panic('Expected ongoing reshare');
      checkKeyEventId(ev, args.key_event_id, inst!.attempt_id);
      if (inst!.completed.includes(me[1])) panic('Vote already casted.');
      ev.instance = null;
    },
  };
}

const runningKey = (c: Storage, domainId: number) => {
  const s = loaded(c);
  if (!('Running' in s)) return panic('Protocol state is not running, nor resharing.');
  const k = s.Running.keyset.domains.find((d) => d.domain_id === domainId) ?? panic('No such domain.');
  return k!.key.Secp256k1.near_public_key;
};

function viewMethods(c: Storage, version: string): Record<string, ViewMethod> {
  return {
    state: () => clone(loaded(c)),
    public_key: (args) => runningKey(c, Number(args?.domain_id ?? 0)),
    derived_public_key: (args, ctx) => {
      const root = runningKey(c, Number(args?.domain_id ?? 0));
      const predecessor = String(args?.predecessor ?? ctx.contractId);
      return deriveKeySecp256k1(root, deriveTweak(predecessor, String(args?.path ?? '')));
    },
    latest_key_version: () => {
      const s = loaded(c);
      if (!('Running' in s)) return panic('called `Option::unwrap()` on a `None` value');
      const ids = s.Running.domains.domains.filter((d) => d.scheme === 'Secp256k1').map((d) => d.id);
      return ids.length ? Math.max(...ids) : panic('called `Option::unwrap()` on a `None` value');
    },
    version: () => {
      loaded(c);
      return version;
    },
    config: () => {
      loaded(c);
      return { ...c.config };
    },
    get_attestation: (args) => {
      loaded(c);
      return c.attestations.get(String(args?.tls_public_key))?.attestation ?? null;
    },
    get_tee_accounts: () => {
      loaded(c);
      return [...c.attestations.values()].map((a) => ({
        account_id: a.account_id,
        tls_public_key: a.tls_public_key,
        account_public_key: a.account_public_key,
      }));
    },
  };
}

function run(fn: () => unknown, logs: string[]): ContractOutcome {
  try {
    const value = fn();
    return value === undefined ? { ok: true, logs } : { ok: true, value, logs };
  } catch (e) {
    if (e instanceof Panic) return { ok: false, error: { kind: 'Panic', message: e.message }, logs };
    return { ok: false, error: { kind: 'Panic', message: String((e as Error).message) }, logs };
  }
}

export function createMpcContract(opts: { version?: string; codeHash?: string } = {}): MpcContract {
  const c: Storage = {
    state: undefined,
    config: { key_event_timeout_blocks: 30, tee_upgrade_deadline_duration_seconds: 604800 },
    attestations: new Map(),
  };
  const calls = { ...setupCalls(c), ...keyEventCalls(c) };
  const views = viewMethods(c, opts.version ?? '3.0.2');

  return {
    codeHash: opts.codeHash ?? '4SKLfbnrk2BL8zKTVxLybwXLq8TMLgaCbBaJ9JHfdCCU',
    state: () => (c.state ? clone(c.state) : 'NotInitialized'),
    dropAttestation: (tlsPublicKey) => c.attestations.delete(tlsPublicKey),
    view(method, args, ctx) {
      const fn = views[method];
      if (!fn)
        return calls[method]
          ? { ok: false, error: { kind: 'Panic', message: 'ProhibitedInView' }, logs: [] }
          : { ok: false, error: { kind: 'MethodNotFound' }, logs: [] };
      return run(() => fn(args, ctx), []);
    },
    call(method, args, ctx) {
      const logs: string[] = [];
      const fn = calls[method];
      if (fn) {
        // A failed call leaves no trace: restore the state it started from.
        const before = c.state ? clone(c.state) : undefined;
        const beforeAtt = new Map(c.attestations);
        const out = run(() => fn(args, ctx, logs), logs);
        if (!out.ok) {
          c.state = before;
          c.attestations.clear();
          for (const [k, v] of beforeAtt) c.attestations.set(k, v);
        }
        return out;
      }
      const view = views[method];
      if (view) return run(() => view(args, ctx), logs);
      return { ok: false, error: { kind: 'MethodNotFound' }, logs };
    },
  };
}
