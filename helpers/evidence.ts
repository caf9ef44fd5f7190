/**
 * What the runbook observed about one node, in the four places a node key lives, plus what it
 * concluded. Plain data: collected by the I/O helpers (near, secrets, fleet), judged by
 * diagnosis.ts, shown in annotations and reports. Public keys and fingerprints only — never a
 * secret value.
 */

/** The four places a node key lives. */
export type Place = 'chain' | 'secretsManager' | 'manifest' | 'node';

/** The two node keys the runbook reconciles. */
export type KeyRole = 'account' | 'p2p';

export type AccessKeyPermission =
  | 'FullAccess'
  | { FunctionCall: { receiver_id: string; method_names: string[]; allowance: string | null } };

export type FunctionCallPermission = Extract<AccessKeyPermission, { FunctionCall: unknown }>['FunctionCall'];

export interface OnChainKey {
  publicKey: string;
  permission: AccessKeyPermission;
}

/** How a value read from Secrets Manager looked before it was normalised. */
export type SecretShape =
  | 'plain'
  | 'json-wrapped' // {"key": "..."} from the ECS-era deployment
  | 'trailing-newline'
  | 'progress-text' // bootstrap progress lines captured into the value
  | 'no-prefix' // the key's base58 body without its 'ed25519:' (the bootstrap refuses it)
  | 'placeholder' // PLACEHOLDER_REPLACE_WITH_REAL_KEY
  | 'empty'
  | 'malformed'
  | 'missing';

export interface SecretObservation {
  secretName: string;
  shape: SecretShape;
  /** Public key the (normalised) value derives, when it is a valid key. */
  publicKey?: string;
  /** AWSCURRENT VersionId when the secret exists. */
  versionId?: string;
  /** Human text of what is wrong, naming the field; never the value. */
  problem?: string;
}

export interface ManifestEntry {
  nodeKey: string; // "node-0"
  accountId?: string; // MPC_ACCOUNT_ID as written
  accountPublicKey?: string; // derived from MPC_ACCOUNT_SK
  p2pPublicKey?: string; // derived from MPC_P2P_PRIVATE_KEY
  problems: string[];
}

export interface NodeSelfReport {
  /** /public_data answered: from the NEAR base, or (`from: 'instance'`) on the node's own instance. */
  reachable: boolean;
  /** /public_data near_signer_public_key */
  signerPublicKey?: string;
  /** /public_data near_p2p_public_key */
  p2pPublicKey?: string;
  healthy?: boolean; // /health == 200 OK
  error?: string;
  /** Where the report was read: the NEAR base (inside the VPC; the default), or the node's own instance. */
  from?: 'near-base' | 'instance';
  /** How the NEAR base's probe of :8080/health ended when it got no answer (curl: 7 refused, 28 timed out). */
  baseProbe?: { httpCode: string; curlExit?: number };
  /** The mpc-node container as the node's own docker sees it (asked when the NEAR base got no answer). */
  container?: { state: string; startedAt: string; restarts: number };
}

export interface NodeEvidence {
  index: number;
  accountId: string; // from discovery (CloudFormation output)
  instanceId: string;
  privateIp: string;
  chain: {
    accountExists: boolean;
    accessKeys: OnChainKey[];
    /** sign_pk of this account's participant entry in the contract, if it is a participant. */
    participantSignPk?: string;
    /** The account's liquid balance in yoctoNEAR (view_account amount), when it was read. */
    balance?: string;
  };
  secretsManager: { account: SecretObservation; p2p: SecretObservation };
  manifest?: ManifestEntry;
  node: NodeSelfReport;
}

export type FindingCode =
  | 'secret-not-on-chain' // Secrets Manager value derives a key that is not on the account
  | 'secret-unusable' // placeholder / empty / malformed / missing
  | 'secret-shape' // json-wrapped / trailing newline / progress text: usable only after normalising
  | 'node-key-not-on-chain' // the node signs with a key the account does not hold
  | 'node-p2p-mismatch' // the node's p2p key is not its participant sign_pk
  | 'node-unreachable'
  | 'manifest-key-not-on-chain'
  | 'manifest-invalid'
  | 'account-id-mismatch' // e.g. mpc-node-0.node0 in the manifest vs mpc-node-0.localnet
  | 'p2p-secret-mismatch' // Secrets Manager p2p key is not the participant sign_pk
  | 'key-on-wrong-account' // a key that belongs to another node's account (swapped keys)
  | 'access-key-permission' // key on chain, but cannot call the contract methods the node needs
  | 'access-key-allowance' // a FunctionCall key whose allowance is below what one node call costs
  | 'account-balance'; // the node account cannot pay the gas of one node call

/** A repair the runbook can make safely. Values travel by reference (secret name, manifest entry), never inline. */
export type Repair =
  | { kind: 'restore-secret'; node: number; role: KeyRole; secretName: string; publicKey: string }
  | {
      kind: 'rematerialise-node-secrets';
      node: number;
      instanceId: string;
      accountPublicKey: string;
      p2pPublicKey: string;
    }
  | { kind: 'start-container'; node: number; instanceId: string; state: string; since: string };

export interface Finding {
  /** error: the claim does not hold; warning: worth knowing, not a failure. */
  severity: 'error' | 'warning';
  node: number;
  role: KeyRole;
  place: Place;
  code: FindingCode;
  /** Names the node, the place and what disagrees; no secret values. */
  message: string;
  /** What the fix-up would do, when it can settle this finding. */
  repair?: Repair;
  /** Why no repair is offered (the manifest cannot settle it, …). */
  refusal?: string;
}
