/**
 * What the runbook asks on the instances (through SSM Run Command): the nodes' /health and
 * /public_data as the NEAR base sees them inside the VPC, and each node's container state and logs.
 * Reviewed POSIX shell text that never carries a secret (SSM keeps command history), plus the pure
 * parsers of its output. The SSM agent runs it with `sh`: dash on the NEAR base (Ubuntu), bash on
 * the MPC nodes (AL2023) — so no `local`, `pipefail`, `[[` or here-strings (tested under dash).
 */

/**
 * On the NEAR base (inside the VPC): /health and /public_data of every node, one line each, the nodes
 * probed side by side (a node the network drops costs its timeout once, not once per node). `exit` is
 * curl's exit code of the /health probe: 7 refused (nothing listens), 28 timed out (a dropped packet).
 */
/** jq, double-quoted for sh: "<signer key> <p2p key>" from /public_data, "-" for a key it does not hold. */
const BOTH_KEYS = '"(.near_signer_public_key // \\"-\\") + \\" \\" + (.near_p2p_public_key // \\"-\\")"';

export function nodePublicDataScript(nodes: { index: number; ip: string }[]): string[] {
  return [
    `for t in ${nodes.map((n) => `"${n.index} ${n.ip}"`).join(' ')}; do`,
    '  set -- $t',
    '  (',
    '    h=$(curl -s -o /dev/null -w "%{http_code}" --max-time 5 "http://$2:8080/health"); e=$?',
    '    pd=""',
    '    [ "$e" != 0 ] || pd=$(curl -sf --max-time 5 "http://$2:8080/public_data" || true)',
    // One jq for both keys (keys hold no space); no answer or no JSON gives "- -".
    `    sp=$(printf "%s" "$pd" | jq -r ${BOTH_KEYS} 2>/dev/null || true)`,
    '    [ -n "$sp" ] || sp="- -"',
    '    echo "node=$1 health=${h:-000} signer=${sp%% *} p2p=${sp#* } exit=$e"',
    '  ) &',
    'done',
    'wait',
  ];
}

export interface PublicDataLine {
  health: string;
  signer?: string;
  p2p?: string;
  /** curl's exit code of the /health probe (0 when it got an HTTP answer). */
  curlExit?: number;
}

export function parsePublicData(stdout: string): Map<number, PublicDataLine> {
  const out = new Map<number, PublicDataLine>();
  for (const line of stdout.split('\n')) {
    const m = /^node=(\d+) health=(\d+) signer=(\S+) p2p=(\S+)(?: exit=(\d+))?$/.exec(line.trim());
    if (m)
      out.set(Number(m[1]), {
        health: m[2]!,
        ...(m[3] !== '-' ? { signer: m[3] } : {}),
        ...(m[4] !== '-' ? { p2p: m[4] } : {}),
        ...(m[5] !== undefined ? { curlExit: Number(m[5]) } : {}),
      });
  }
  return out;
}

/** On a node instance: the container's state and how many AccessKeyNotFound lines it logged since it started. */
const CONTAINER_STATE = '{{.State.Status}} {{.State.StartedAt}} {{.RestartCount}}';
export const containerStatusScript = [
  `st=$(docker inspect --format "${CONTAINER_STATE}" mpc-node 2>/dev/null || echo "missing - 0")`,
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
