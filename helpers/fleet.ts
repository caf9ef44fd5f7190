/**
 * The instances, through SSM Run Command: batched commands (≤ 50 instances per SendCommand, one
 * status poll per command), and the remote scripts the runbook runs — reviewed text that uses
 * ${MPC_DATA_DIR:-/data} so the same script runs on EC2 and in the twin, and never carries a secret
 * (SSM keeps command history): scripts fetch secrets on the instance themselves.
 */
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { redactor } from './redact.ts';
import { waitUntil, withRetry } from './retry.ts';

export function ssmClient(region: string) {
  return new SSMClient({ region, maxAttempts: 4, retryMode: 'standard' });
}

export interface InvocationResult {
  instanceId: string;
  status: string;
  details: string;
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** An invocation's outcome as an operator needs it: did the command run at all, and what is the state of the instance? */
export function describeOutcome(r: InvocationResult | undefined): string {
  if (!r) return 'no result from SSM';
  if (r.details === 'DeliveryTimedOut' || r.details === 'Undeliverable')
    return `${r.status}/${r.details}: the command never reached the instance (SSM agent not connected); nothing ran there`;
  if (r.details === 'ExecutionTimedOut' || r.status === 'TimedOut')
    return `${r.status}/${r.details || 'ExecutionTimedOut'}: the command started but did not finish in time; check the instance before running again${r.stderr.trim() ? ` (${r.stderr.trim()})` : ''}`;
  return `${r.status}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''}`;
}

const TERMINAL = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled', 'Cancelling']);

/** Run one script on many instances; resolves with every instance's outcome (never throws for a failed script). */
export async function runOn(
  ssm: SSMClient,
  instanceIds: string[],
  commands: string[],
  o: { timeoutS: number; comment: string; fullOutput?: boolean },
): Promise<Map<string, InvocationResult>> {
  const results = new Map<string, InvocationResult>();
  const batches: string[][] = [];
  for (let i = 0; i < instanceIds.length; i += 50) batches.push(instanceIds.slice(i, i + 50));
  await Promise.all(
    batches.map(async (batch) => {
      const sent = await withRetry(`SendCommand (${o.comment})`, () =>
        ssm.send(
          new SendCommandCommand({
            DocumentName: 'AWS-RunShellScript',
            InstanceIds: batch,
            Comment: o.comment.slice(0, 100),
            TimeoutSeconds: Math.max(30, Math.ceil(o.timeoutS)),
            Parameters: { commands, executionTimeout: [String(Math.ceil(o.timeoutS))] },
          }),
        ),
      );
      const commandId = sent.Command!.CommandId!;
      const invocations = await waitUntil(
        `SSM command "${o.comment}" on ${batch.length} instance(s)`,
        async () => {
          const r = await withRetry('ListCommandInvocations', () =>
            ssm.send(new ListCommandInvocationsCommand({ CommandId: commandId, Details: true })),
          );
          const list = r.CommandInvocations ?? [];
          return list.length === batch.length && list.every((i) => TERMINAL.has(i.Status!)) ? list : undefined;
        },
        { timeoutMs: (o.timeoutS + 30) * 1000, intervalMs: 150 },
      );
      await Promise.all(
        invocations.map(async (inv) => {
          const plugin = inv.CommandPlugins?.[0];
          let stdout = plugin?.Output ?? '';
          let stderr = '';
          if (o.fullOutput || stdout.length >= 2400 || inv.Status !== 'Success') {
            // Run Command is eventually consistent: an invocation may not be readable yet (InvocationDoesNotExist).
            const full = await waitUntil(
              `the output of "${o.comment}" on ${inv.InstanceId}`,
              async () => {
                try {
                  return await withRetry('GetCommandInvocation', () =>
                    ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: inv.InstanceId! })),
                  );
                } catch (e) {
                  if ((e as Error).name === 'InvocationDoesNotExist') return undefined;
                  throw e;
                }
              },
              { timeoutMs: 30_000, intervalMs: 150 },
            );
            stdout = full.StandardOutputContent ?? '';
            stderr = full.StandardErrorContent ?? '';
          }
          results.set(inv.InstanceId!, {
            instanceId: inv.InstanceId!,
            status: inv.Status!,
            details: inv.StatusDetails ?? '',
            exitCode: plugin?.ResponseCode ?? -1,
            stdout: redactor.redact(stdout),
            stderr: redactor.redact(stderr),
          });
        }),
      );
    }),
  );
  return results;
}

export async function pingStatus(ssm: SSMClient, instanceIds: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < instanceIds.length; i += 50) {
    const r = await withRetry('DescribeInstanceInformation', () =>
      ssm.send(
        new DescribeInstanceInformationCommand({
          Filters: [{ Key: 'InstanceIds', Values: instanceIds.slice(i, i + 50) }],
          MaxResults: 50,
        }),
      ),
    );
    for (const x of r.InstanceInformationList ?? []) out.set(x.InstanceId!, x.PingStatus!);
  }
  return out;
}

// --- remote scripts --------------------------------------------------------------------------

/** On the NEAR base (inside the VPC): /health and /public_data of every node, one line each. */
export function nodePublicDataScript(nodes: { index: number; ip: string }[]): string[] {
  return [
    `for t in ${nodes.map((n) => `"${n.index} ${n.ip}"`).join(' ')}; do`,
    '  set -- $t',
    '  h=$(curl -s -o /dev/null -w "%{http_code}" --max-time 5 "http://$2:8080/health" || true)',
    '  pd=$(curl -sf --max-time 5 "http://$2:8080/public_data" || true)',
    '  s=$(printf "%s" "$pd" | jq -r ".near_signer_public_key // empty" 2>/dev/null || true)',
    '  p=$(printf "%s" "$pd" | jq -r ".near_p2p_public_key // empty" 2>/dev/null || true)',
    '  echo "node=$1 health=${h:-000} signer=${s:--} p2p=${p:--}"',
    'done',
  ];
}

export function parsePublicData(stdout: string): Map<number, { health: string; signer?: string; p2p?: string }> {
  const out = new Map<number, { health: string; signer?: string; p2p?: string }>();
  for (const line of stdout.split('\n')) {
    const m = /^node=(\d+) health=(\d+) signer=(\S+) p2p=(\S+)$/.exec(line.trim());
    if (m)
      out.set(Number(m[1]), {
        health: m[2]!,
        ...(m[3] !== '-' ? { signer: m[3] } : {}),
        ...(m[4] !== '-' ? { p2p: m[4] } : {}),
      });
  }
  return out;
}

/** On a node instance: the container's state and how many AccessKeyNotFound lines it logged since it started. */
export const containerStatusScript = [
  'st=$(docker inspect --format "{{.State.Status}} {{.State.StartedAt}} {{.RestartCount}}" mpc-node 2>/dev/null || echo "missing - 0")',
  'set -- $st',
  'n=0',
  'if [ "$1" != missing ]; then n=$(docker logs --since "$2" mpc-node 2>&1 | grep -c "AccessKeyNotFound" || true); fi',
  'echo "container=$1 started=$2 restarts=$3 accesskeynotfound=$n"',
];

/** On a node instance whose container does not come back: its state and its last log lines (why it exits). */
export const containerLastWordsScript = [
  ...containerStatusScript,
  'docker logs --tail 3 mpc-node 2>&1 | sed "s/^/last-log: /" || true',
];

export function parseContainerStatus(stdout: string) {
  const m = /container=(\S+) started=(\S+) restarts=(\d+) accesskeynotfound=(\d+)/.exec(stdout);
  return m ? { state: m[1]!, startedAt: m[2]!, restarts: Number(m[3]), accessKeyNotFound: Number(m[4]) } : undefined;
}

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
