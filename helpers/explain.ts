/** The evidence and findings as an operator reads them (public keys only). Pure text, no I/O. */
import type { Finding, NodeEvidence, OnChainKey, Repair } from './evidence.ts';

/** A whole amount in units of 10^places, as a decimal without trailing zeros: decimal(30242800000000000000000n, 24). */
export function decimal(v: bigint | string, places: number): string {
  const n = BigInt(v);
  const unit = 10n ** BigInt(places);
  const frac = (n % unit).toString().padStart(places, '0').replace(/0+$/, '');
  return `${n / unit}${frac ? `.${frac}` : ''}`;
}

/** yoctoNEAR as NEAR: "0.0302428 NEAR". */
export const nearAmount = (yocto: bigint | string) => `${decimal(yocto, 24)} NEAR`;

const short = (k?: string) => (k ? `${k.slice(0, 12)}…${k.slice(-4)}` : '—');
const permission = (k: OnChainKey) => (k.permission === 'FullAccess' ? 'FullAccess' : 'FunctionCall');

/** One node across the four places, as a compact table for annotations. */
export function evidenceTable(ev: NodeEvidence, o: { manifestGiven?: boolean } = {}): string {
  const keys = ev.chain.accessKeys.map((k) => `${short(k.publicKey)} [${permission(k)}]`).join(', ') || 'none';
  const sm = ev.secretsManager;
  const node = ev.node.reachable ? (ev.node.healthy ? 'healthy' : 'not healthy') : 'unreachable';
  return [
    `node ${ev.accountId} (${ev.instanceId}, ${ev.privateIp})`,
    `  chain        account keys: ${keys}; participant sign_pk: ${short(ev.chain.participantSignPk)}`,
    `  secrets mgr  account: ${short(sm.account.publicKey)} (${sm.account.shape}); ` +
      `p2p: ${short(sm.p2p.publicKey)} (${sm.p2p.shape})`,
    o.manifestGiven === false
      ? '  manifest     not given'
      : `  manifest     account: ${short(ev.manifest?.accountPublicKey)}; p2p: ${short(ev.manifest?.p2pPublicKey)}`,
    `  node         signer: ${short(ev.node.signerPublicKey)}; p2p: ${short(ev.node.p2pPublicKey)}; ${node}`,
  ].join('\n');
}

function repairSentence(r: Repair): string {
  if (r.kind === 'restore-secret') {
    return `fix-up (step 02): write the manifest's key ${r.publicKey.slice(0, 14)}… to ${r.secretName}`;
  }
  if (r.kind === 'start-container') {
    return `fix-up (step 03): docker start mpc-node on ${r.instanceId} (it is ${r.state}), wait for /health there`;
  }
  const what = 're-materialise /data/secrets.json';
  return `fix-up (step 03): ${what} on ${r.instanceId} from Secrets Manager and restart mpc-node`;
}

/** Findings: what disagrees, and what the fix-up would do (or why there is none). */
export function explain(findings: Pick<Finding, 'place' | 'message' | 'repair' | 'refusal'>[]): string {
  return findings
    .map((f) => {
      const what = f.repair ? repairSentence(f.repair) : `no fix-up: ${f.refusal}`;
      return `- [${f.place}] ${f.message}\n    ${what}`;
    })
    .join('\n');
}
