/** Pure parts of the twin's MPC node: key rules of secrets.json and the /debug/contract text. */
import { ed25519 } from '@noble/curves/ed25519.js';
import { base58 } from '@scure/base';

type Participant = [string, number, { url: string; sign_pk: string }];
interface Params {
  participants: { next_id: number; participants: Participant[] };
  threshold: number;
}
export type ContractStateJson =
  | 'NotInitialized'
  | {
      Running: {
        domains: { domains: { id: number; scheme: string }[] };
        keyset: { epoch_id: number; domains: { domain_id: number; attempt: number; key: unknown }[] };
        parameters: Params;
      };
    }
  | {
      Initializing: {
        epoch_id: number;
        domains: { domains: { id: number; scheme: string }[] };
        generating_key: {
          epoch_id: number;
          domain: { id: number; scheme: string };
          parameters: Params;
          next_attempt_id: number;
          instance: null | { attempt_id: number; started_in: number; expires_on: number; completed: number[] };
        };
      };
    };

/** The node's rules for a key in secrets.json; returns the public key, or the node's error text (never the key). */
export function validateNodeKey(value: unknown): string | { error: string } {
  if (typeof value !== 'string' || !value.startsWith('ed25519:'))
    return { error: "Key must start with 'ed25519:' prefix" };
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(value.slice('ed25519:'.length));
  } catch {
    return { error: 'invalid base58 encoding of key in secrets.json' };
  }
  if (bytes.length !== 64) return { error: 'Key pair bytes must be 64 bytes.' };
  const pub = ed25519.getPublicKey(bytes.slice(0, 32));
  if (base58.encode(pub) !== base58.encode(bytes.slice(32)))
    return { error: 'Key pair is inconsistent: public key does not match the secret key.' };
  return `ed25519:${base58.encode(pub)}`;
}

/** protocol_state_to_string of the node's /debug/contract. */
export function describeContract(s: ContractStateJson | undefined): string {
  if (!s || s === 'NotInitialized') return 'Contract is not initialized';
  if ('Running' in s) {
    const r = s.Running;
    return [
      'Contract is in Running state',
      `  Epoch: ${r.keyset.epoch_id}`,
      ...r.keyset.domains.map(
        (d) =>
          `  Domain ${d.domain_id}: ${r.domains.domains.find((x) => x.id === d.domain_id)?.scheme ?? '?'}, key from attempt ${d.attempt}`,
      ),
      ...r.parameters.participants.participants.map(([a, id, info]) => `  ID ${id}: ${a} (${info.url})`),
      `  Threshold: ${r.parameters.threshold}`,
    ].join('\n');
  }
  const i = s.Initializing;
  const ev = i.generating_key;
  const active = ev.instance
    ? `active; current attempt ID: ${ev.instance.attempt_id}`
    : `not active; next attempt ID: ${ev.next_attempt_id}`;
  return [
    `Contract is in Initializing state (key generation)  Epoch: ${i.epoch_id}`,
    `  Domain ${ev.domain.id}: ${ev.domain.scheme}, generating key: ${active}`,
  ].join('\n');
}
