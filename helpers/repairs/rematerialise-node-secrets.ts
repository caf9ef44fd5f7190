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
 */
export function rematerialiseScript(
  runId: string,
  expected: { index: number; accountSha256: string; p2pSha256: string }[],
): string[] {
  return [
    'set -euo pipefail',
    'D="${MPC_DATA_DIR:-/data}"',
    `BACKUP="$D/secrets.json.runbook-${runId}"`,
    'IDX=$(sed -n "s/^my_near_account_id: *mpc-node-\\([0-9][0-9]*\\)\\..*/\\1/p" "$D/config.yaml")',
    '[ -n "$IDX" ] || { echo "ERROR: cannot tell the node index from $D/config.yaml" >&2; exit 3; }',
    'read -r WANT_SK WANT_P2P <<EOF',
    '$(case "$IDX" in',
    ...expected.map((e) => `  ${e.index}) echo "${e.accountSha256} ${e.p2pSha256}" ;;`),
    '  *) echo "- -" ;;',
    'esac)',
    'EOF',
    '[ "$WANT_SK" != "-" ] || { echo "node=$IDX skipped=not-selected"; exit 0; }',
    'norm() { local v; v=$(tr -d "\\n"); case "$v" in "{"*) v=$(printf "%s" "$v" | jq -r ".key // .privateKey // empty") ;; esac; printf "%s" "$v"; }',
    'SK=$(aws secretsmanager get-secret-value --secret-id "mpc-node-$IDX-mpc_account_sk" --query SecretString --output text | norm)',
    'P2P=$(aws secretsmanager get-secret-value --secret-id "mpc-node-$IDX-mpc_p2p_private_key" --query SecretString --output text | norm)',
    '[ "$(printf "%s" "$SK" | sha256sum | cut -c1-64)" = "$WANT_SK" ] || { echo "ERROR: mpc-node-$IDX-mpc_account_sk is not the value the runbook checked; nothing written" >&2; exit 4; }',
    '[ "$(printf "%s" "$P2P" | sha256sum | cut -c1-64)" = "$WANT_P2P" ] || { echo "ERROR: mpc-node-$IDX-mpc_p2p_private_key is not the value the runbook checked; nothing written" >&2; exit 4; }',
    'BACKED=false',
    'if [ -f "$D/secrets.json" ]; then [ -f "$BACKUP" ] || cp -p "$D/secrets.json" "$BACKUP"; BACKED=true; fi',
    'BEFORE=$( (sha256sum "$D/secrets.json" 2>/dev/null || echo none) | cut -c1-64)',
    'umask 077',
    'jq -n --arg p2p "$P2P" --arg sk "$SK" \'{p2p_private_key: $p2p, near_signer_key: $sk, near_responder_keys: [$sk]}\' > "$D/secrets.json.tmp"',
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
    'set -euo pipefail',
    'D="${MPC_DATA_DIR:-/data}"',
    `B="${backupPath}"`,
    '[ -f "$B" ] || { echo "ERROR: backup $B is gone; nothing restored" >&2; exit 3; }',
    'cp -p "$B" "$D/secrets.json"',
    'docker restart mpc-node >/dev/null',
    'echo "restored=$D/secrets.json sha256=$(sha256sum "$D/secrets.json" | cut -c1-64)"',
  ];
}
