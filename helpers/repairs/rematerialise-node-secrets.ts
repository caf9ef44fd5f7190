/**
 * rematerialiseNodeSecrets: the bootstrap writes /data/secrets.json only if it is missing, so
 * restoring Secrets Manager and restarting changes nothing. Rewrite the file on the instance from
 * Secrets Manager (only the values the runbook validated, by sha256; old file backed up, never
 * printed), restart mpc-node, and wait until the node reports the on-chain keys and answers /health
 * from inside the VPC. Also its exact inverse, for rollback.
 */
import { createHash } from 'node:crypto';
import { readSecrets } from '../aws/secrets-manager.ts';
import { type InvocationResult, runOn } from '../aws/ssm.ts';
import { errors } from '../diagnosis.ts';
import type { Repair } from '../evidence.ts';
import type { RunbookContext } from '../harness/context.ts';
import type { FixUpIO, PlannedAction } from '../harness/fix-up.ts';
import { containerLastWords } from '../instances/containers.ts';
import { containerStatusScript, parseContainerStatus } from '../instances/node-reports.ts';
import { ownInstanceReports } from '../instances/own-instance.ts';
import type { OwnPublicData } from '../instances/own-reports.ts';
import { normaliseSecretValue, readNodeKey } from '../keys.ts';
import { secretNames } from '../node-secrets.ts';
import { type KeyEvidence, nodeSelfReports, observeKeys } from '../observe.ts';
import { repairWaitSince, waitUntil } from '../retry.ts';
import { runJournaledOnNodes } from './on-nodes.ts';

/**
 * On node instances: write /data/secrets.json from Secrets Manager and restart the container.
 * The node's index comes from its own config.yaml (my_near_account_id). The runbook passes the
 * sha256 of each value it validated; the script refuses to write anything else. The old file is
 * backed up (once per run) and never printed.
 *
 * POSIX sh: the SSM agent runs it with `sh` (bash on the AL2023 nodes, but dash elsewhere), so no
 * `local`, `pipefail`, `[[` or here-strings. `aws` gets the region explicitly (`--region`): on the
 * instance neither AWS_REGION nor a config file is set, and IMDS may be disabled. Without `region`,
 * the script uses the region the SSM agent runs in (AWS_SSM_REGION_NAME).
 */
export function rematerialiseScript(
  runId: string,
  expected: { index: number; accountSha256: string; p2pSha256: string }[],
  region?: string,
): string[] {
  if (region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region))
    throw new Error(`rematerialiseScript: "${region}" is not an AWS region name`);
  if (!/^[\w.:-]+$/.test(runId)) throw new Error(`rematerialiseScript: run id "${runId}" has characters a path cannot`);
  const sha = /^[0-9a-f]{64}$/;
  for (const e of expected)
    if (!Number.isInteger(e.index) || !sha.test(e.accountSha256) || !sha.test(e.p2pSha256))
      throw new Error(`rematerialiseScript: node ${e.index}: expected sha256 values are not 64 hex digits`);
  const secretsJson = '{p2p_private_key: $p2p, near_signer_key: $sk, near_responder_keys: [$sk]}';
  return [
    'set -eu',
    'die() { echo "ERROR: $1" >&2; exit "$2"; }',
    'D="${MPC_DATA_DIR:-/data}"',
    `BACKUP="$D/secrets.json.runbook-${runId}"`,
    // AWS_SSM_REGION_NAME: the SSM agent's variable, written twice on purpose (twin/instances/shell.ts sets it).
    region ? `R='${region}'` : 'R="${AWS_SSM_REGION_NAME:-}"',
    '[ -n "$R" ] || die "no AWS region to read Secrets Manager in; nothing written" 6',
    'IDX=$(sed -n "s/^my_near_account_id: *mpc-node-\\([0-9][0-9]*\\)\\..*/\\1/p" "$D/config.yaml")',
    '[ -n "$IDX" ] || die "cannot tell the node index from $D/config.yaml" 3',
    'case "$IDX" in',
    ...expected.map((e) => `  ${e.index}) WANT_SK=${e.accountSha256}; WANT_P2P=${e.p2pSha256} ;;`),
    '  *) echo "node=$IDX skipped=not-selected"; exit 0 ;;',
    'esac',
    // The value as the node needs it: newlines dropped, a JSON-wrapped value ({"key": …}) unwrapped.
    'norm() {',
    '  NV=$(tr -d "\\n")',
    '  case "$NV" in "{"*) NV=$(printf "%s" "$NV" | jq -r ".key // .privateKey // empty") ;; esac',
    '  printf "%s" "$NV"',
    '}',
    'fetch() {',
    '  aws secretsmanager get-secret-value --region "$R" --secret-id "$1" --query SecretString --output text ||',
    '    die "cannot read $1 from Secrets Manager in $R; nothing written" 5',
    '}',
    'sha() { printf "%s" "$1" | sha256sum | cut -c1-64; }',
    'RAW=$(fetch "mpc-node-$IDX-mpc_account_sk") || exit 5',
    'SK=$(printf "%s" "$RAW" | norm)',
    'RAW=$(fetch "mpc-node-$IDX-mpc_p2p_private_key") || exit 5',
    'P2P=$(printf "%s" "$RAW" | norm)',
    'RAW=',
    'NOT_CHECKED="is not the value the runbook checked; nothing written"',
    '[ "$(sha "$SK")" = "$WANT_SK" ] || die "mpc-node-$IDX-mpc_account_sk $NOT_CHECKED" 4',
    '[ "$(sha "$P2P")" = "$WANT_P2P" ] || die "mpc-node-$IDX-mpc_p2p_private_key $NOT_CHECKED" 4',
    'BACKED=false',
    'if [ -f "$D/secrets.json" ]; then [ -f "$BACKUP" ] || cp -p "$D/secrets.json" "$BACKUP"; BACKED=true; fi',
    'BEFORE=$( (sha256sum "$D/secrets.json" 2>/dev/null || echo none) | cut -c1-64)',
    'umask 077',
    `jq -n --arg p2p "$P2P" --arg sk "$SK" '${secretsJson}' > "$D/secrets.json.tmp"`,
    'chmod 600 "$D/secrets.json.tmp" && mv "$D/secrets.json.tmp" "$D/secrets.json"',
    'AFTER=$(sha256sum "$D/secrets.json" | cut -c1-64)',
    'docker restart mpc-node >/dev/null',
    'echo "node=$IDX backup=$BACKUP backed_up=$BACKED before=$BEFORE after=$AFTER"',
  ];
}

export function parseRematerialise(stdout: string) {
  const m = /node=(\d+) backup=(\S+) backed_up=(true|false) before=(\S+) after=(\S+)/.exec(stdout);
  return m
    ? { index: Number(m[1]), backupPath: m[2]!, backedUp: m[3] === 'true', before: m[4]!, after: m[5]! }
    : undefined;
}

/** Rollback of a rematerialise: put the backed-up file back byte for byte, restart. */
export function restoreNodeFileScript(backupPath: string, writtenSha256?: string): string[] {
  // Only the file the run wrote is replaced: one changed since (a later fix, a person) is left alone.
  const unchanged = writtenSha256
    ? [
        `[ "$NOW" = "${writtenSha256}" ] || { echo "ERROR: $D/secrets.json changed after the run wrote it; ` +
          'nothing restored" >&2; exit 5; }',
      ]
    : [];
  return [
    'set -eu',
    'D="${MPC_DATA_DIR:-/data}"',
    `B="${backupPath}"`,
    '[ -f "$B" ] || { echo "ERROR: backup $B is gone; nothing restored" >&2; exit 3; }',
    'NOW=$( (sha256sum "$D/secrets.json" 2>/dev/null || echo none) | cut -c1-64)',
    // Already back (an earlier rollback): nothing to do, no restart.
    '[ "$NOW" != "$(sha256sum "$B" | cut -c1-64)" ] || { echo "already=$D/secrets.json"; exit 0; }',
    ...unchanged,
    'cp -p "$B" "$D/secrets.json"',
    'docker restart mpc-node >/dev/null',
    'echo "restored=$D/secrets.json sha256=$(sha256sum "$D/secrets.json" | cut -c1-64)"',
  ];
}

// --- the fix-up ------------------------------------------------------------------------------------

type Rematerialise = Extract<Repair, { kind: 'rematerialise-node-secrets' }>;
interface NodeRewrite extends PlannedAction {
  kind: 'rematerialise-node-secrets';
  repair: Rematerialise;
}

const sha256 = (v: string) => createHash('sha256').update(v).digest('hex');
const SAY_REWRITE =
  'rewrite ${MPC_DATA_DIR:-/data}/secrets.json from Secrets Manager (backup kept), docker restart mpc-node, ' +
  'wait for /health and /public_data';

/** One rewrite per node whose keys on the node disagree with the chain and whose secrets are settled. */
export function describeNodeRewrites(ev: KeyEvidence): NodeRewrite[] {
  const byNode = new Map<number, Rematerialise>();
  for (const f of errors(ev.findings)) {
    if (f.place === 'node' && f.repair?.kind === 'rematerialise-node-secrets') byNode.set(f.node, f.repair);
  }
  return [...byNode.values()].map((r) => ({
    kind: 'rematerialise-node-secrets',
    target: r.instanceId,
    node: r.node,
    repair: r,
    text: `SSM on ${r.instanceId}: ${SAY_REWRITE}`,
  }));
}

/** The public key a Secrets Manager value derives (normalised as the bootstrap would), if it is a key. */
const publicKeyOf = (value: string | undefined) => {
  const v = normaliseSecretValue(value).value;
  const publicKey = v ? readNodeKey(v).publicKey : undefined;
  return v && publicKey ? { value: v, publicKey } : undefined;
};

/**
 * Prerequisite: each secret a node will be built from derives the key that is on chain for it (its
 * account's access key, its participant sign_pk) — step 02 made it so. Only those values' sha256 go to
 * the instance, which refuses anything else.
 */
async function validatedDigests(ctx: RunbookContext, repairs: Rematerialise[]) {
  const secrets = await readSecrets(
    ctx.sm,
    repairs.flatMap((r) => [secretNames(r.node).account, secretNames(r.node).p2p]),
  );
  return repairs.map((r) => {
    const account = publicKeyOf(secrets.get(secretNames(r.node).account)?.value);
    const p2p = publicKeyOf(secrets.get(secretNames(r.node).p2p)?.value);
    if (account?.publicKey !== r.accountPublicKey || p2p?.publicKey !== r.p2pPublicKey) {
      throw new Error(
        `mpc-node-${r.node}: Secrets Manager does not hold the on-chain keys yet ` +
          '(step 02 must pass first); nothing written',
      );
    }
    return { index: r.node, accountSha256: sha256(account.value), p2pSha256: sha256(p2p.value) };
  });
}

function journalRewrites(actions: NodeRewrite[], io: FixUpIO) {
  return new Map(
    actions.map(({ repair: r }) => [
      r.instanceId,
      io.journal.intent(io.step, {
        kind: 'rematerialise-node-secrets',
        instanceId: r.instanceId,
        node: `mpc-node-${r.node}`,
        backupPath: `\${MPC_DATA_DIR:-/data}/secrets.json.runbook-${io.ctx.runId}`,
        accountPublicKey: r.accountPublicKey,
        p2pPublicKey: r.p2pPublicKey,
      }),
    ]),
  );
}

export async function rewriteNodeSecrets(actions: NodeRewrite[], io: FixUpIO) {
  if (!actions.length) return;
  const expected = await validatedDigests(
    io.ctx,
    actions.map((a) => a.repair),
  );
  const refs = journalRewrites(actions, io);
  const { failed, where } = await runJournaledOnNodes(actions, refs, io, {
    script: rematerialiseScript(io.ctx.runId, expected, io.ctx.config.AWS_REGION),
    comment: 'mpc-runbook: rematerialise secrets.json and restart mpc-node',
    parse: parseRematerialise,
    said: (a, p) => `re-materialised secrets.json on ${a.target} (backup ${p.backupPath}) and restarted mpc-node`,
  });
  if (failed.length) {
    const done = actions.filter((a) => !failed.includes(a)).map((a) => `mpc-node-${a.node}`);
    throw new Error(
      `re-materialising failed on ${where.join('; ')}${done.length ? `. Done and restarted: ${done.join(', ')}` : ''}` +
        '. Run fix again once the instance is reachable; the journal has every outcome',
    );
  }
}

type Reports = Awaited<ReturnType<typeof nodeSelfReports>>;
const NETWORK = 'a network finding: the security group or the source address, not the restart';
const reportsKeys = (reports: Reports, r: Rematerialise) =>
  reports.get(r.node)?.health === '200' &&
  reports.get(r.node)?.signer === r.accountPublicKey &&
  reports.get(r.node)?.p2p === r.p2pPublicKey;

/**
 * Why restarted nodes did not come back: their container state and last log lines, and whether the node
 * answers on its own instance (then the NEAR base cannot reach it: the network, not the node).
 */
async function whyNotBack(ctx: RunbookContext, stuck: Rematerialise[]): Promise<string[]> {
  const [words, own] = await Promise.all([
    containerLastWords(
      ctx,
      stuck.map((r) => r.instanceId),
      'mpc-runbook: container state after restart',
    ),
    ownInstanceReports(
      ctx,
      ctx.deployment.nodes.filter((n) => stuck.some((r) => r.node === n.index)),
    ).catch(() => new Map<number, OwnPublicData>()),
  ]);
  return stuck.map((r) => {
    const out = (words.get(r.instanceId)?.stdout ?? '').trim();
    const st = parseContainerStatus(out);
    const plural = st?.restarts === 1 ? '' : 's';
    const state = st
      ? `container ${st.state}, ${st.restarts} restart${plural} since ${st.startedAt}`
      : 'container state unknown';
    const looping = st?.state === 'restarting' || (st?.restarts ?? 0) > 0 ? ' — crash-looping' : '';
    const logs = out
      .split('\n')
      .filter((l) => l.startsWith('last-log: '))
      .map((l) => l.slice(10))
      .join(' | ');
    const there = own.get(r.node);
    const vantage = !there
      ? ''
      : there.ownHealth === '200'
        ? `; on its own instance it answers /health 200 — the NEAR base cannot reach it (${NETWORK})`
        : `; on its own instance /health does not answer either (${there.ownHealth})`;
    return `mpc-node-${r.node} (${r.instanceId}): ${state}${looping}${logs ? `; last log: ${logs}` : ''}${vantage}`;
  });
}

/** Rewritten nodes whose container keeps restarting (crash-looping): waiting longer will not bring them back. */
async function crashLooping(ctx: RunbookContext, repairs: Rematerialise[]): Promise<Rematerialise[]> {
  if (!repairs.length) return [];
  const res = await runOn(
    ctx.ssm,
    repairs.map((r) => r.instanceId),
    containerStatusScript,
    { timeoutS: ctx.config.RUNBOOK_SSM_TIMEOUT_S, comment: 'mpc-runbook: container state after restart' },
  ).catch(() => new Map<string, InvocationResult>());
  return repairs.filter((r) => {
    const st = parseContainerStatus(res.get(r.instanceId)?.stdout ?? '');
    return st && (st.state === 'restarting' || st.restarts >= 2);
  });
}

const CRASH_CHECK_MS = 5_000;

/**
 * Wait until every rewritten node reports its on-chain keys and /health 200; then observe again.
 * Nodes whose container crash-loops end the wait early (once every node not back is one of them),
 * with their container state and last log lines; a node that is only slow is waited for.
 */
export async function nodesBackWithChainKeys(actions: NodeRewrite[], io: FixUpIO): Promise<KeyEvidence> {
  const repairs = actions.map((a) => a.repair);
  let last: Reports | undefined;
  let looping: Rematerialise[] = [];
  let checked = Date.now();
  const notBack = () => repairs.filter((r) => !last || !reportsKeys(last, r));
  const explain = async (head: string) => {
    const why = await whyNotBack(io.ctx, notBack());
    return new Error(
      `${head}\n${why.join('\n')}\nThe new secrets.json is in place (journaled, backup kept); ` +
        'fix what the node reports, or roll back with npm run rollback',
    );
  };
  if (!repairs.length) return observeKeys(io.ctx);
  await waitUntil(
    'the restarted nodes to report their on-chain keys and answer /health',
    async () => {
      last = await nodeSelfReports(io.ctx);
      const back = repairs.length - notBack().length;
      io.progress(`${back} of ${repairs.length} restarted nodes report their on-chain keys and /health 200`);
      if (back === repairs.length) return true;
      if (Date.now() - checked >= CRASH_CHECK_MS) {
        checked = Date.now();
        looping = await crashLooping(io.ctx, notBack());
        if (looping.length === notBack().length) return false; // every node not back crash-loops
      }
      return undefined;
    },
    { timeoutMs: io.ctx.config.RUNBOOK_HEALTH_TIMEOUT_S * 1000, intervalMs: repairWaitSince(Date.now()) },
  ).then(
    async (allBack) => {
      if (allBack) return;
      const names = looping.map((r) => `mpc-node-${r.node}`).join(', ');
      throw await explain(`${names} crash-loop${looping.length === 1 ? 's' : ''} after the restart (stopped waiting)`);
    },
    async (e: Error) => {
      throw await explain(e.message);
    },
  );
  return observeKeys(io.ctx);
}
