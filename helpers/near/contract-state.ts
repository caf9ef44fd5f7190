/**
 * The v1.signer contract's `state()` as 3.0.2 serialises it (serde, externally tagged enums): a
 * schema, so the runbook and the tests read a typed state instead of digging through JSON, and the
 * sentences an operator reads about it. Pure: no I/O.
 */
import { z } from 'zod';

const Domain = z.object({ id: z.number(), scheme: z.string() });
const ParticipantInfo = z.object({ url: z.string(), sign_pk: z.string() });
const Participant = z.tuple([z.string(), z.number(), ParticipantInfo]);
const ThresholdParameters = z.object({
  participants: z.object({ next_id: z.number(), participants: z.array(Participant) }),
  threshold: z.number(),
});
const KeyForDomain = z.object({ domain_id: z.number(), key: z.record(z.string(), z.unknown()), attempt: z.number() });
const Keyset = z.object({ epoch_id: z.number(), domains: z.array(KeyForDomain) });
const KeyEventInstance = z.object({
  attempt_id: z.number(),
  started_in: z.number(),
  expires_on: z.number(),
  completed: z.array(z.number()),
  public_key: z.unknown().nullable().optional(),
});
const KeyEvent = z.object({
  epoch_id: z.number(),
  domain: Domain,
  parameters: ThresholdParameters,
  instance: KeyEventInstance.nullable(),
  next_attempt_id: z.number(),
});
const DomainRegistry = z.object({ domains: z.array(Domain), next_domain_id: z.number() });

const Running = z.looseObject({ domains: DomainRegistry, keyset: Keyset, parameters: ThresholdParameters });
const Initializing = z.looseObject({
  domains: DomainRegistry,
  epoch_id: z.number(),
  generated_keys: z.array(KeyForDomain),
  generating_key: KeyEvent,
});
const Resharing = z.looseObject({ previous_running_state: Running, resharing_key: KeyEvent });

export const ContractStateSchema = z.union([
  z.literal('NotInitialized'),
  z.object({ Running }),
  z.object({ Initializing }),
  z.object({ Resharing }),
]);
export type ContractState = z.infer<typeof ContractStateSchema>;
export type Participant = z.infer<typeof Participant>;
export type KeyEvent = z.infer<typeof KeyEvent>;
export type StateName = 'NotInitialized' | 'Running' | 'Initializing' | 'Resharing';

/** The state as the contract returned it, checked; an unknown shape is an error naming what differs. */
export function parseContractState(json: unknown): ContractState {
  const parsed = ContractStateSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const tag = json && typeof json === 'object' ? Object.keys(json).join(', ') : JSON.stringify(json);
  throw new Error(`state() returned a shape this runbook does not know (${tag}): ${parsed.error.issues[0]?.message}`);
}

export function stateName(s: ContractState): StateName {
  if (s === 'NotInitialized') return s;
  if ('Running' in s) return 'Running';
  if ('Initializing' in s) return 'Initializing';
  return 'Resharing';
}

/** Participants of whatever state the contract is in (the paths differ per state). */
export function participantsOf(s: ContractState): Participant[] {
  if (s === 'NotInitialized') return [];
  if ('Running' in s) return s.Running.parameters.participants.participants;
  if ('Initializing' in s) return s.Initializing.generating_key.parameters.participants.participants;
  return s.Resharing.resharing_key.parameters.participants.participants;
}

/** Running with a key for at least one domain: the definition of done for step 04. */
export const isRunningWithKeys = (s: ContractState) =>
  s !== 'NotInitialized' && 'Running' in s && s.Running.keyset.domains.length > 0;

/** Running with no domain key: only a vote_add_domains by the participants changes that, never waiting. */
export const isRunningWithoutDomain = (s: ContractState) =>
  s !== 'NotInitialized' && 'Running' in s && s.Running.keyset.domains.length === 0;

/** The key event under way, when the contract is Initializing and its attempt has not expired. */
export function activeKeyEvent(s: ContractState, height: number) {
  if (s === 'NotInitialized' || !('Initializing' in s)) return undefined;
  const ev = s.Initializing.generating_key;
  return ev.instance && height < ev.instance.expires_on ? { event: ev, instance: ev.instance } : undefined;
}

/** "Initializing: domain 0 (Secp256k1), attempt 3, votes 2 of 3, expires at block 5151 (now 5140)" */
export function progressSentence(s: ContractState, height?: number): string {
  if (s === 'NotInitialized' || !('Initializing' in s)) {
    return isRunningWithoutDomain(s) ? 'Running with no domain keys (no domain was ever voted in)' : stateName(s);
  }
  const ev = s.Initializing.generating_key;
  const n = ev.parameters.participants.participants.length;
  const domain = `domain ${ev.domain.id} (${ev.domain.scheme})`;
  const inst = ev.instance;
  if (!inst) return `Initializing: ${domain}, no key generation attempt running (next attempt ${ev.next_attempt_id})`;
  const now = height ? ` (now ${height})` : '';
  const expired = height !== undefined && height >= inst.expires_on ? ', expired' : '';
  const votes = `attempt ${inst.attempt_id}, votes ${inst.completed.length} of ${n}`;
  return `Initializing: ${domain}, ${votes}, expires at block ${inst.expires_on}${now}${expired}`;
}
