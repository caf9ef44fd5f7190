/**
 * startStoppedContainers: a node whose mpc-node container is stopped (exited, or created and never
 * started) keeps the whole key event waiting — keygen needs every participant. `docker start mpc-node`
 * through SSM brings it back with the files it has (nothing is rewritten); journaled with the state it
 * replaced, and undone by rollback with `docker stop mpc-node`, only while the container still runs
 * since the start this run made. Then wait until the node answers /health on its own instance.
 */
import { errors } from '../diagnosis.ts';
import type { Repair } from '../evidence.ts';
import type { RunbookContext } from '../harness/context.ts';
import type { FixUpIO, PlannedAction } from '../harness/fix-up.ts';
import { containerLastWords } from '../instances/containers.ts';
import { INSPECT_CONTAINER } from '../instances/node-reports.ts';
import { ownInstanceReports } from '../instances/own-instance.ts';
import { type KeyEvidence, observeKeys } from '../observe.ts';
import { repairWaitSince, waitUntil } from '../retry.ts';
import { runJournaledOnNodes } from './on-nodes.ts';

/** On a node instance: start the stopped mpc-node container (a running or restarting one is left alone). */
export const startContainerScript = [
  'set -eu',
  `st=$(${INSPECT_CONTAINER})`,
  'set -- $st',
  'case "$1" in',
  '  running|restarting) echo "already=$1 started=$2"; exit 0 ;;',
  '  missing) echo "ERROR: there is no mpc-node container on this instance; nothing started" >&2; exit 3 ;;',
  'esac',
  'WAS=$1',
  'docker start mpc-node >/dev/null',
  `set -- $(${INSPECT_CONTAINER})`,
  'echo "started was=$WAS now=$1 started=$2"',
];

export function parseStartContainer(stdout: string) {
  const m = /started was=(\S+) now=(\S+) started=(\S+)/.exec(stdout);
  if (m) return { started: true as const, was: m[1]!, now: m[2]!, startedAt: m[3]! };
  const a = /already=(\S+) started=(\S+)/.exec(stdout);
  return a ? { started: false as const, now: a[1]!, startedAt: a[2]! } : undefined;
}

/** Rollback of a start: stop the container again, only if it still runs since the start the run made. */
export function stopContainerScript(startedAt?: string): string[] {
  if (startedAt !== undefined && !/^[\w.:+-]+$/.test(startedAt))
    throw new Error(`stopContainerScript: "${startedAt}" is not a docker timestamp`);
  const guard = startedAt
    ? [
        `[ "$2" = "${startedAt}" ] || { echo "ERROR: mpc-node was started again after the run started it ` +
          '(now $1 since $2); left alone" >&2; exit 5; }',
      ]
    : [];
  return [
    'set -eu',
    `st=$(${INSPECT_CONTAINER})`,
    'set -- $st',
    '[ "$1" != missing ] || { echo "ERROR: there is no mpc-node container on this instance" >&2; exit 3; }',
    'case "$1" in exited|created) echo "already=$1"; exit 0 ;; esac',
    ...guard,
    'docker stop mpc-node >/dev/null',
    'echo "stopped=mpc-node"',
  ];
}

// --- the fix-up ------------------------------------------------------------------------------------

type Start = Extract<Repair, { kind: 'start-container' }>;
interface ContainerStart extends PlannedAction {
  kind: 'start-container';
  repair: Start;
}

/** One start per node whose container the node's own instance found stopped. */
export function describeContainerStarts(ev: KeyEvidence): ContainerStart[] {
  const byNode = new Map<number, Start>();
  for (const f of errors(ev.findings)) if (f.repair?.kind === 'start-container') byNode.set(f.node, f.repair);
  return [...byNode.values()].map((r) => ({
    kind: 'start-container',
    target: r.instanceId,
    node: r.node,
    repair: r,
    text:
      `SSM on ${r.instanceId}: docker start mpc-node (it is ${r.state}, last started ${r.since}; ` +
      'nothing is rewritten), ' +
      'wait for /health on the instance',
  }));
}

export async function startContainers(actions: ContainerStart[], io: FixUpIO) {
  if (!actions.length) return;
  const refs = new Map(
    actions.map(({ repair: r }) => [
      r.instanceId,
      io.journal.intent(io.step, {
        kind: 'start-container',
        instanceId: r.instanceId,
        node: `mpc-node-${r.node}`,
        replacedState: r.state,
      }),
    ]),
  );
  const { failed, where } = await runJournaledOnNodes(actions, refs, io, {
    script: startContainerScript,
    comment: 'mpc-runbook: docker start mpc-node',
    parse: parseStartContainer,
    said: (a, p) =>
      p.started ? `started mpc-node on ${a.target} (it was ${p.was})` : `mpc-node on ${a.target} was already ${p.now}`,
  });
  if (failed.length) {
    throw new Error(`starting mpc-node failed on ${where.join('; ')}; the journal has every outcome`);
  }
}

/** Why started containers do not answer: their state and last log lines. */
async function whyNotUp(ctx: RunbookContext, stuck: Start[]): Promise<string[]> {
  const ids = stuck.map((r) => r.instanceId);
  const words = await containerLastWords(ctx, ids, 'mpc-runbook: container state after start');
  return stuck.map((r) => {
    const out = (words.get(r.instanceId)?.stdout ?? '').trim().replace(/\n/g, '; ');
    return `mpc-node-${r.node} (${r.instanceId}): ${out || 'no answer from the instance'}`;
  });
}

/** Wait until every started node answers /health on its own instance; then observe the four places again. */
export async function containersAnswer(actions: ContainerStart[], io: FixUpIO): Promise<KeyEvidence> {
  const starts = actions.map((a) => a.repair);
  const nodes = io.ctx.deployment.nodes.filter((n) => starts.some((r) => r.node === n.index));
  let up = new Set<number>();
  if (nodes.length) {
    await waitUntil(
      'the started nodes to answer /health on their own instances',
      async () => {
        const own = await ownInstanceReports(io.ctx, nodes);
        up = new Set(
          [...own].filter(([, o]) => o.container.state === 'running' && o.ownHealth === '200').map(([i]) => i),
        );
        io.progress(`${up.size} of ${nodes.length} started nodes answer /health on their own instances`);
        return up.size === nodes.length ? true : undefined;
      },
      { timeoutMs: io.ctx.config.RUNBOOK_HEALTH_TIMEOUT_S * 1000, intervalMs: repairWaitSince(Date.now()) },
    ).catch(async (e: Error) => {
      const why = await whyNotUp(
        io.ctx,
        starts.filter((r) => !up.has(r.node)),
      );
      throw new Error(`${e.message}\n${why.join('\n')}\nThe start is journaled; npm run rollback stops it again`);
    });
  }
  return observeKeys(io.ctx);
}
