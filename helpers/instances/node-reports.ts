/**
 * What the runbook asks on the instances (through SSM Run Command): the nodes' /health and
 * /public_data as the NEAR base sees them inside the VPC, and each node's container state and logs.
 * Reviewed POSIX shell text that never carries a secret (SSM keeps command history), plus the pure
 * parsers of its output. The SSM agent runs it with `sh`: dash on the NEAR base (Ubuntu), bash on
 * the MPC nodes (AL2023) — so no `local`, `pipefail`, `[[` or here-strings (tested under dash).
 */

/**
 * On the NEAR base (inside the VPC): /health and /public_data of every node, one line each
 * (`node=… health=… signer=… p2p=… exit=…`). One curl fetches them all side by side (`--parallel`, curl
 * ≥ 7.75 for `%{exitcode}`; Ubuntu 24.04 has 8.5), so a node the network drops costs its timeout once,
 * and a fleet of 100 costs the NEAR base three processes, not hundreds. One jq joins curl's report of
 * each transfer with the body it saved. `exit` is curl's exit code of the /health probe: 7 refused
 * (nothing listens), 28 timed out (a dropped packet). A node without a line was not probed (see
 * missingFromProbe).
 */
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
/** curl runs at most 300 transfers at once. */
const CURL_PARALLEL_MAX = 300;

/** jq over curl's report lines ("W <file> <http code> <exit>") and the bodies ("B <index> <body>"). */
const JOIN_PROBES = [
  'def one(k): k | if type == "string" and test("^[^ ]+$") then . else "-" end;',
  'def both($b): $b | try (fromjson | one(.near_signer_public_key) + " " + one(.near_p2p_public_key)) catch "- -";',
  '[inputs] as $l',
  '| ($l | map(select(startswith("W ")) | split(" ") | select(.[1] != "")',
  '  | {key: (.[1] | split("/") | last), value: {code: .[2], exit: .[3]}}) | from_entries) as $w',
  '| $l[] | select(startswith("B ")) | capture("^B (?<i>[0-9]+) (?<body>.*)$")',
  '| $w["h" + .i] as $h | $w["p" + .i] as $p | select($h != null)',
  '| (if $h.exit == "0" and $p.exit == "0" and ($p.code | tonumber) < 400 then both(.body) else "- -" end) as $sp',
  '| "node=\\(.i) health=\\($h.code) signer=\\($sp | split(" ")[0]) p2p=\\($sp | split(" ")[1]) exit=\\($h.exit)"',
].join(' ');

export function nodePublicDataScript(nodes: { index: number; ip: string }[]): string[] {
  for (const n of nodes) {
    if (!Number.isInteger(n.index) || n.index < 0) throw new Error(`node ${n.index}: index is not a node number`);
    if (!IPV4.test(n.ip)) throw new Error(`node ${n.index}: privateIp ${JSON.stringify(n.ip)} is not an IPv4 address`);
  }
  const parallel = Math.max(1, Math.min(CURL_PARALLEL_MAX, 2 * nodes.length));
  return [
    'd=$(mktemp -d) || exit 1',
    // -s alone leaves curl 7.88's --parallel progress meter on stderr.
    `curl -s --no-progress-meter --parallel --parallel-immediate --parallel-max ${parallel} --max-time 5 \\`,
    '  -w "W %{filename_effective} %{http_code} %{exitcode}\\n" \\',
    ...nodes.map(
      (n) =>
        `  -o "$d/h${n.index}" "http://${n.ip}:8080/health" -o "$d/p${n.index}" "http://${n.ip}:8080/public_data" \\`,
    ),
    '  > "$d/w"',
    // The bodies, one line each, read by the shell itself (no process per node).
    `for i in ${nodes.map((n) => n.index).join(' ')}; do`,
    '  b=""',
    '  if [ -f "$d/p$i" ]; then while IFS= read -r l || [ -n "$l" ]; do b="$b$l"; done < "$d/p$i"; fi',
    '  printf "B %s %s\\n" "$i" "$b"',
    'done > "$d/b"',
    `jq -rRn '${JOIN_PROBES}' "$d/w" "$d/b"`,
    'r=$?',
    'rm -rf "$d"',
    'exit $r',
  ];
}

/** The nodes the probe printed no line for (curl did not run their transfers): not an answer, a failed probe. */
export const missingFromProbe = (nodes: { index: number }[], lines: Map<number, PublicDataLine>) =>
  nodes.filter((n) => !lines.has(n.index)).map((n) => n.index);

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

/** The mpc-node container as one line for `set --`: state, start time, restart count ("missing - 0": none). */
export const INSPECT_CONTAINER =
  'docker inspect --format "{{.State.Status}} {{.State.StartedAt}} {{.RestartCount}}" mpc-node 2>/dev/null ' +
  '|| echo "missing - 0"';
/** On a node instance: the container's state and how many AccessKeyNotFound lines it logged since it started. */
export const containerStatusScript = [
  `st=$(${INSPECT_CONTAINER})`,
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
