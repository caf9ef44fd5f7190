/**
 * The re-materialise repair's remote scripts: rewrite /data/secrets.json on a node from Secrets
 * Manager (only the values the runbook validated, by sha256) and restart mpc-node; and its exact
 * inverse for rollback.
 */

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
export function restoreNodeFileScript(backupPath: string): string[] {
  return [
    'set -eu',
    'D="${MPC_DATA_DIR:-/data}"',
    `B="${backupPath}"`,
    '[ -f "$B" ] || { echo "ERROR: backup $B is gone; nothing restored" >&2; exit 3; }',
    'cp -p "$B" "$D/secrets.json"',
    'docker restart mpc-node >/dev/null',
    'echo "restored=$D/secrets.json sha256=$(sha256sum "$D/secrets.json" | cut -c1-64)"',
  ];
}
