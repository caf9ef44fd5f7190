/**
 * The failure-mode catalogue as the runbook knows it: one entry per scenario file (docs/failure-modes.md has
 * the row), matched from what the run said — its red claims' messages and its warnings, never from the
 * scenario's name: the runbook does not know which scenario it runs against, and on a real deployment it
 * names the same entries the same way. Pure: no I/O.
 */

export interface CatalogueEntry {
  /** The scenario file that reproduces it, and its anchor in docs/failure-modes.md. */
  id: string;
  /** failure: the gate is red with it; warning: the gate stays green and says it. */
  kind: 'failure' | 'warning';
  /** What the runbook says when it is this failure (a red claim's message, or a warning): any one matches. */
  says: RegExp[];
  /** Entries that explain it better: when one of them matches, this one is not named. */
  unless?: string[];
  /** Named instead of these entries when all of them match (one failure made of two known ones). */
  combines?: string[];
  /** What fix does about it, in a few words. */
  action: string;
}

export const CATALOGUE_DOC = 'docs/failure-modes.md';

const REPAIRED_02 = 'fix restores the secret from the manifest (step 02) when the manifest key is on chain';
const NO_REPAIR = 'no automatic repair';

export const CATALOGUE: CatalogueEntry[] = [
  { id: 'healthy', kind: 'failure', says: [], action: 'nothing to do' },
  {
    id: 'incident-key-mismatch',
    kind: 'failure',
    says: [/mpc_account_sk derives \S+, which is not an access key of/],
    action: 'fix restores Secrets Manager (02), re-materialises secrets.json and restarts the nodes (03)',
  },
  {
    id: 'stale-node-secrets',
    kind: 'failure',
    says: [/its transactions fail with AccessKeyNotFound/],
    unless: ['incident-key-mismatch'],
    action: 'fix re-materialises secrets.json from Secrets Manager and restarts the nodes (03)',
  },
  { id: 'placeholder-secret', kind: 'failure', says: [/still holds the CDK placeholder/], action: REPAIRED_02 },
  { id: 'json-wrapped-secret', kind: 'failure', says: [/the value is JSON-wrapped/], action: REPAIRED_02 },
  { id: 'secret-with-trailing-newline', kind: 'failure', says: [/the value ends with a newline/], action: REPAIRED_02 },
  { id: 'secret-without-prefix', kind: 'failure', says: [/without its 'ed25519:' prefix/], action: REPAIRED_02 },
  {
    id: 'p2p-secret-mismatch',
    kind: 'failure',
    says: [/mpc_p2p_private_key derives \S+, the participant sign_pk is/, /p2p key \S+ is not its participant sign_pk/],
    action: "fix restores the p2p secret when the manifest's p2p key is the sign_pk (02), then the node (03)",
  },
  {
    id: 'manifest-suffix-drift',
    kind: 'warning',
    says: [
      /the manifest says \S+; the chain and the stack say/,
      /MPC_ACCOUNT_ID: says \S+, the deployment's account is/,
    ],
    action: 'nothing to repair: the runbook uses the account ids of the deployment',
  },
  {
    id: 'contract-not-initialised',
    kind: 'failure',
    says: [/Calling default not allowed/],
    action: `${NO_REPAIR}: init the contract (mpc-setup.ts), then vote the domain`,
  },
  {
    id: 'contract-missing',
    kind: 'failure',
    says: [/holds no contract code/, /no MPC contract the runbook knows/],
    action: `${NO_REPAIR}: deploy the MPC contract 3.0.2 and init it, or correct MPC_CONTRACT_ID`,
  },
  {
    id: 'no-domain',
    kind: 'failure',
    says: [/no domain was ever voted in/, /No such domain\./, /Running with no domain/],
    action: `${NO_REPAIR}: every participant votes vote_add_domains`,
  },
  {
    id: 'fc-key-wrong-methods',
    kind: 'failure',
    says: [/MethodNameMismatch/, /ReceiverMismatch/],
    action: `${NO_REPAIR}: replace the node's access key by hand (DeleteKey, AddKey with the node's methods)`,
  },
  {
    id: 'fc-key-allowance-exhausted',
    kind: 'failure',
    says: [/NotEnoughAllowance/],
    action: `${NO_REPAIR}: replace the node's access key by hand with a larger allowance`,
  },
  {
    id: 'node-account-broke',
    kind: 'failure',
    says: [/NotEnoughBalance/],
    action: `${NO_REPAIR}: fund the node account`,
  },
  // Issue 12 (the runbook side of "still Initializing"): what 03 and 04 say (helpers/blockers.ts, diagnosis.ts).
  {
    id: 'p2p-port-collision',
    kind: 'failure',
    says: [/TCP bind/, /the P2P listener of .+ cannot bind :\d+/],
    action: `${NO_REPAIR}: move P2P off the web UI port (indexer.port_override) or the web UI off it`,
  },
  {
    id: 'incident-as-deployed',
    kind: 'failure',
    says: [],
    combines: ['incident-key-mismatch', 'p2p-port-collision'],
    action: 'fix repairs the keys (02, 03), then stops red at 04 on the port collision',
  },
  {
    id: 'base-ip-changed',
    kind: 'failure',
    says: [/did not answer from the NEAR base .*, but answers .* on its own instance/, /the NEAR base cannot reach it/],
    action: `${NO_REPAIR}: admit the NEAR base's current address in the MPC security group`,
  },
  {
    id: 'node-not-attested',
    kind: 'failure',
    says: [/not attested/i, /no attestation/i],
    action: `${NO_REPAIR}: submit the node's attestation with the deposit the contract asks (as the message says)`,
  },
  {
    id: 'one-node-down',
    kind: 'failure',
    says: [/containers not running/, /container (is )?(exited|stopped)/i],
    action: 'fix starts the stopped mpc-node container through SSM (03, journaled), then waits for Running',
  },
  {
    id: 'indexer-behind',
    kind: 'failure',
    says: [/blocks behind/i, /chain view lags/i, /indexer lags/i],
    action: `${NO_REPAIR}: see what holds the node's indexer back`,
  },
];

const byId = (catalogue: CatalogueEntry[], id: string) => catalogue.find((e) => e.id === id);

/** What a run said: its red claims' messages and its warnings. */
export interface RunSaid {
  failures: string[];
  warnings: string[];
}

/** The catalogue entries this run's messages match, in catalogue order. */
export function knownFailures(said: RunSaid, catalogue: CatalogueEntry[] = CATALOGUE): CatalogueEntry[] {
  const saysIt = (e: CatalogueEntry) =>
    (e.kind === 'failure' ? said.failures : said.warnings).some((text) => e.says.some((re) => re.test(text)));
  const raw = new Set(catalogue.filter(saysIt).map((e) => e.id));
  const matched = new Set([...raw].filter((id) => !byId(catalogue, id)?.unless?.some((u) => raw.has(u))));
  for (const e of catalogue) {
    if (!e.combines?.length || !e.combines.every((id) => matched.has(id))) continue;
    for (const id of e.combines) matched.delete(id);
    matched.add(e.id);
  }
  return catalogue.filter((e) => matched.has(e.id));
}

/** The report's line for an entry: where to read its row, and what fix does about it. */
export const catalogueLine = (e: CatalogueEntry) =>
  `${e.kind === 'failure' ? 'Known failure' : 'Known condition'}: ${e.id} — ${CATALOGUE_DOC}#${e.id} (${e.action})`;
