/**
 * What the runbook asks each node's own instance (through SSM Run Command, one command sent to all of
 * them): the second vantage point beside the NEAR base. Its container, its config.yaml ports, its web
 * port asked from the instance itself, its /metrics, what its log says since the container started,
 * and whether it reaches each peer's P2P port. Reviewed POSIX shell text that never carries a secret,
 * and the pure parsers of its output.
 *
 * One script text goes to every node: the script finds which node it runs on from the SSM agent's
 * AWS_SSM_INSTANCE_ID (the agent sets it for every command; written twice on purpose: the twin's
 * twin/instances/shell.ts sets it too). The SSM agent runs it with `sh` (dash or bash-as-sh): no
 * `local`, `pipefail`, `[[` or here-strings (tested under dash).
 */

import { INSPECT_CONTAINER } from './node-reports.ts';

export interface InstanceNode {
  index: number;
  instanceId: string;
  ip: string;
}

const INSTANCE_ID = /^i-[0-9a-z]+$/;
const HOST = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;

function checked(nodes: InstanceNode[]): InstanceNode[] {
  for (const n of nodes) {
    if (!Number.isInteger(n.index) || !INSTANCE_ID.test(n.instanceId) || !HOST.test(n.ip))
      throw new Error(`own-instance script: node ${n.index} (${n.instanceId}, ${n.ip}) cannot go into a script`);
  }
  return nodes;
}

/** Which node this is (N, IP), its data dir (D), two config.yaml values: web_ui.port (WP), port_override (PO). */
function whoAmI(nodes: InstanceNode[]): string[] {
  const cfg =
    'cfg() { awk -v sec="$1" -v key="$2:" \'/^[^ #]/ { s = $1; sub(/:.*/, "", s); insec = (s == sec); next } ' +
    'insec && $1 == key { v = $2; gsub(/[^0-9]/, "", v); print v; exit }\' "$D/config.yaml" 2>/dev/null; }';
  return [
    'case "${AWS_SSM_INSTANCE_ID:-}" in',
    ...checked(nodes).map((n) => `  ${n.instanceId}) N=${n.index}; IP=${n.ip} ;;`),
    '  *) echo "node=unknown instance=${AWS_SSM_INSTANCE_ID:-unset}"; exit 0 ;;',
    'esac',
    'D="${MPC_DATA_DIR:-/data}"',
    cfg,
    'WP=$(cfg web_ui port); PO=$(cfg indexer port_override)',
    `st=$(${INSPECT_CONTAINER})`,
    'set -- $st',
    'C=$1; S=$2; RC=$3',
    'h=$(curl -s -o /dev/null -w "%{http_code}" --max-time 5 "http://$IP:${WP:-8080}/health" 2>/dev/null || true)',
    'echo "node=$N container=$C started=$S restarts=$RC web_port=${WP:--} port_override=${PO:--} own_health=${h:-000}"',
  ];
}

/** 03, for the nodes the NEAR base got no answer from: their container, /health and /public_data on their instance. */
export function ownPublicDataScript(nodes: InstanceNode[]): string[] {
  return [
    ...whoAmI(nodes),
    'pd=$(curl -sf --max-time 5 "http://$IP:${WP:-8080}/public_data" 2>/dev/null || true)',
    's=$(printf "%s" "$pd" | jq -r ".near_signer_public_key // empty" 2>/dev/null || true)',
    'p=$(printf "%s" "$pd" | jq -r ".near_p2p_public_key // empty" 2>/dev/null || true)',
    'echo "public_data signer=${s:--} p2p=${p:--}"',
  ];
}

/** The mpc-node log since the container started: counts of what blocks a key event, and the last such line. */
const LOG_SUMMARY = [
  '/AccessKeyNotFound/ { akn++ }',
  '/failed: TCP bind/ { bind++ }',
  '/failed to submit attestation/ { attf++ }',
  '/successfully submitted attestation/ { att++ }',
  '/Could not connect to/ { cnc++ }',
  '/[Ff]ailed|Could not connect to|waiting for participant|not a participant/ ' +
    '{ last = $0; cause = ($0 ~ /failed: TCP bind *$/) ? 1 : 0; next }',
  'cause == 1 && /^Caused by:/ { cause = 2; next }',
  'cause == 2 && NF { sub(/^ +/, ""); last = last " (Caused by: " $0 ")"; cause = 0 }',
  'END {',
  '  printf "logs accesskeynotfound=%d tcp_bind=%d attestation_failed=%d attested=%d could_not_connect=%d\\n", ' +
    'akn, bind, attf, att, cnc',
  '  if (last != "") print "last_log=" substr(last, 1, 600)',
  '}',
].join('\n');

/** The node's /metrics, summed up: its chain view's height, its job, which peers it has a live connection to. */
const METRICS_SUMMARY = [
  '/^mpc_indexer_latest_block_height / { hgt = $2 }',
  '/^mpc_current_job_state[{]/ && $2 + 0 == 1 { j = $1; sub(/.*state="/, "", j); sub(/".*/, "", j) }',
  '/^mpc_network_live_connections[{]/ { q = $1; sub(/.*peer_participant_id="/, "", q); sub(/".*/, "", q);',
  '  if ($2 + 0 > 0) up = up (up == "" ? "" : ",") q; else down = down (down == "" ? "" : ",") q }',
  'END {',
  '  if (NR == 0) { print "metrics none"; exit }',
  '  printf "metrics indexer_height=%s job=%s live=%s dead=%s\\n", ' +
    '(hgt == "" ? "-" : hgt), (j == "" ? "-" : j), (up == "" ? "-" : up), (down == "" ? "-" : down)',
  '}',
].join('\n');

/** 04, when the contract is not Running: the node's container, config ports, own /health, /metrics and log. */
export function nodeStateScript(nodes: InstanceNode[]): string[] {
  return [
    ...whoAmI(nodes),
    `curl -s --max-time 5 "http://$IP:\${WP:-8080}/metrics" 2>/dev/null | awk '${METRICS_SUMMARY}'`,
    'if [ "$C" = missing ]; then echo "logs none"; exit 0; fi',
    `docker logs --since "$S" mpc-node 2>&1 | awk '${LOG_SUMMARY}'`,
  ];
}

export interface ProbeTarget {
  /** The participant id (or `candidate` for the spare port tested as a remedy). */
  to: string;
  host: string;
  port: number;
}

/** How many peers each node tries: all of them in a fleet of up to nine, the next eight beyond that. */
const REACH_PEERS = 8;

/**
 * Which participants (ids) each node tries to reach: its own P2P port, and the next REACH_PEERS
 * participants after its own in participant order (wrapping round), so every port is tried from the
 * REACH_PEERS participants before it. Every pair up to nine participants; a fixed number per node
 * beyond, where every node trying every peer is N² connections and an SSM output too long to list.
 * A node that is no participant tries the first REACH_PEERS + 1.
 */
export function reachPlan(
  nodes: { index: number; accountId: string }[],
  participants: { accountId: string; id: number }[],
  peers = REACH_PEERS,
): Map<number, string[]> {
  const ring = [...participants].sort((a, b) => a.id - b.id);
  const count = Math.min(ring.length, peers + 1);
  return new Map(
    nodes.map((n) => {
      const own = ring.findIndex((p) => p.accountId === n.accountId);
      const at = Math.max(0, own); // a node that is no participant starts at the first
      return [n.index, Array.from({ length: count }, (_, k) => String(ring[(at + k) % ring.length]!.id))];
    }),
  );
}

/**
 * 04: from each node itself, a TCP connect to each participant's P2P host:port its plan names (its own included),
 * side by side. `port_override` in this node's config.yaml replaces every participant's port, as
 * the node does when it dials. curl prints what it saw: time_connect > 0 = connected; http_code ≠ 000
 * = an HTTP server answers there (the web UI, not a P2P listener, which does not speak HTTP); exit 7 =
 * refused (the packet arrived, nothing listens), 28 = timed out (dropped: a security group).
 * `spare` is a port tested as the remedy for a collision, to the node itself and to the next peer, never
 * overridden — only on a node whose web UI holds its own P2P port (web_ui.port, 8080 by default, equals it: the
 * CDK deployment's collision). The test to the next peer waits out a dropped SYN (3 s), which a node without
 * the collision would pay for nothing.
 */
export function p2pProbeScript(
  nodes: InstanceNode[],
  targets: ProbeTarget[],
  spare?: number,
  plan?: Map<number, string[]>,
): string[] {
  for (const t of targets)
    if (!/^\d+$/.test(t.to) || !HOST.test(t.host) || !Number.isInteger(t.port))
      throw new Error(`p2pProbeScript: target ${t.to} ${t.host}:${t.port} cannot go into a script`);
  const probe = (port: string) =>
    `r=$(curl -s -o /dev/null --connect-timeout 3 --max-time 5 -w "%{time_connect} %{http_code}" ` +
    `"http://$2:${port}/" 2>/dev/null); e=$?; echo "probe to=$1 host=$2 port=${port} exit=$e result=\${r:-0 000}"`;
  const spareLines =
    spare === undefined
      ? []
      : [
          'if [ -n "$MYP" ] && [ "$MYP" = "${WP:-8080}" ]; then',
          '  NEXT=$(printf "%s\\n" $ALL | awk -v me="$IP" \'$0 == me { f = 1; next } f { print; exit }\')',
          '  [ -n "$NEXT" ] || NEXT=$(printf "%s\\n" $ALL | awk -v me="$IP" \'$0 != me { print; exit }\')',
          `  for h in "$IP" $NEXT; do set -- spare "$h"; ( ${probe(String(spare))} ) & done`,
          'fi',
        ];
  return [
    ...whoAmI(nodes),
    `ALL="${[...new Set(targets.map((t) => t.host))].join(' ')}"`,
    ...pickLines(nodes, plan),
    'MYP=',
    `for t in ${targets.map((t) => `"${t.to} ${t.host} ${t.port}"`).join(' ')}; do`,
    '  set -- $t',
    '  P=${PO:-$3}',
    '  [ "$2" != "$IP" ] || MYP=$P',
    `  case "$PICK" in all | *" $1 "*) ( ${probe('$P')} ) & ;; esac`,
    'done',
    ...spareLines,
    'wait',
  ];
}

/** PICK: the participant ids this node tries (space-delimited), or `all` without a plan. */
function pickLines(nodes: InstanceNode[], plan?: Map<number, string[]>): string[] {
  if (!plan) return ['PICK=all'];
  for (const ids of plan.values())
    if (!ids.every((id) => /^\d+$/.test(id))) throw new Error(`p2pProbeScript: plan ${ids} cannot go into a script`);
  return [
    'case "$N" in',
    ...nodes.map((n) => {
      const ids = plan.get(n.index);
      return `  ${n.index}) PICK=${ids ? `" ${ids.join(' ')} "` : 'all'} ;;`;
    }),
    'esac',
  ];
}

// --- parsers ---------------------------------------------------------------------------------------

export interface OwnState {
  index: number;
  container: { state: string; startedAt: string; restarts: number };
  webUiPort?: number;
  portOverride?: number;
  /** /health asked on the node's own instance (000: no HTTP answer). */
  ownHealth: string;
}

const num = (s: string | undefined) => (s === undefined || s === '-' || s === '' ? undefined : Number(s));

function parseOwnState(stdout: string): OwnState | undefined {
  const m =
    /node=(\d+) container=(\S+) started=(\S+) restarts=(\d+) web_port=(\S+) port_override=(\S+) own_health=(\d+)/.exec(
      stdout,
    );
  if (!m) return undefined;
  const webUiPort = num(m[5]);
  const portOverride = num(m[6]);
  return {
    index: Number(m[1]),
    container: { state: m[2]!, startedAt: m[3]!, restarts: Number(m[4]) },
    ...(webUiPort !== undefined ? { webUiPort } : {}),
    ...(portOverride !== undefined ? { portOverride } : {}),
    ownHealth: m[7]!,
  };
}

export interface OwnPublicData extends OwnState {
  signer?: string;
  p2p?: string;
}

export function parseOwnPublicData(stdout: string): OwnPublicData | undefined {
  const state = parseOwnState(stdout);
  const m = /public_data signer=(\S+) p2p=(\S+)/.exec(stdout);
  if (!state) return undefined;
  return {
    ...state,
    ...(m && m[1] !== '-' ? { signer: m[1] } : {}),
    ...(m && m[2] !== '-' ? { p2p: m[2] } : {}),
  };
}

export interface NodeState extends OwnState {
  metrics?: { indexerHeight?: number; job?: string; live: number[]; dead: number[] };
  logs?: {
    accessKeyNotFound: number;
    tcpBind: number;
    attestationFailed: number;
    attested: number;
    couldNotConnect: number;
  };
  /** The last line of the log that blocks a key event (a TCP bind failure with its cause on the same line). */
  lastLog?: string;
}

const ids = (s: string) => (s === '-' ? [] : s.split(',').map(Number));

export function parseNodeState(stdout: string): NodeState | undefined {
  const state = parseOwnState(stdout);
  if (!state) return undefined;
  const m = /metrics indexer_height=(\S+) job=(\S+) live=(\S+) dead=(\S+)/.exec(stdout);
  const l =
    /logs accesskeynotfound=(\d+) tcp_bind=(\d+) attestation_failed=(\d+) attested=(\d+) could_not_connect=(\d+)/.exec(
      stdout,
    );
  const last = stdout.split('\n').find((x) => x.startsWith('last_log='));
  const indexerHeight = num(m?.[1]);
  return {
    ...state,
    ...(m
      ? {
          metrics: {
            ...(indexerHeight !== undefined ? { indexerHeight } : {}),
            ...(m[2] !== '-' ? { job: m[2] } : {}),
            live: ids(m[3]!),
            dead: ids(m[4]!),
          },
        }
      : {}),
    ...(l
      ? {
          logs: {
            accessKeyNotFound: Number(l[1]),
            tcpBind: Number(l[2]),
            attestationFailed: Number(l[3]),
            attested: Number(l[4]),
            couldNotConnect: Number(l[5]),
          },
        }
      : {}),
    ...(last ? { lastLog: last.slice('last_log='.length).trim() } : {}),
  };
}

export interface Probe {
  /** A participant id, or `spare` (the port tested as a remedy). */
  to: string;
  host: string;
  port: number;
  exit: number;
  /** A TCP connection was made (curl's time_connect > 0, or an HTTP answer). */
  connected: boolean;
  /** What answered HTTP there (000: nothing spoke HTTP). */
  httpCode: string;
}

export function parseProbes(stdout: string): Probe[] {
  const out: Probe[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^probe to=(\S+) host=(\S+) port=(\d+) exit=(\d+) result=(\S+) (\d{3})$/.exec(line.trim());
    if (!m) continue;
    const httpCode = m[6]!;
    out.push({
      to: m[1]!,
      host: m[2]!,
      port: Number(m[3]),
      exit: Number(m[4]),
      connected: Number(m[5]) > 0 || httpCode !== '000',
      httpCode,
    });
  }
  return out;
}
