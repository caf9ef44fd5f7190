/**
 * A node host: one process that runs many twin MPC nodes (node.ts), so a fleet of 100 costs a few Node
 * processes rather than 100. The container runtime (twin/instances/node-hosts.ts) drives it over stdio,
 * one JSON object per line:
 *
 *   in:  {"op":"start","id":…,"argv":[…],"env":{…}}   a container process started: run its node
 *        {"op":"stop","id":…} | {"op":"kill","id":…}   its process got SIGTERM | died otherwise
 *   out: {"ev":"out","id":…,"stream":"stdout"|"stderr","text":…}   what the node wrote
 *        {"ev":"exit","id":…,"code":n}                            the node ended by itself (fatal)
 *        {"ev":"stopped","id":…}                                  after stop/kill: nothing of it is left
 *
 * Each node reads its own environment and files, binds its own addresses, and is stopped or killed
 * alone; a node's fatal error ends that node, not the host. The host ends when its stdin closes.
 */
import { createInterface } from 'node:readline';
import { type RunningNode, startMpcNode } from './node.ts';

type Command =
  | { op: 'start'; id: string; argv: string[]; env: Record<string, string> }
  | { op: 'stop' | 'kill'; id: string };

const nodes = new Map<string, RunningNode>();
const send = (m: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(m)}\n`);

function start(c: Extract<Command, { op: 'start' }>) {
  let ended = false;
  const exit = (code: number) => {
    if (ended) return;
    ended = true;
    nodes.delete(c.id);
    send({ ev: 'exit', id: c.id, code });
  };
  let node: RunningNode;
  try {
    node = startMpcNode({
      argv: c.argv,
      env: c.env,
      write: (stream, text) => !ended && send({ ev: 'out', id: c.id, stream, text }),
      exit,
    });
  } catch (e) {
    // What an unexpected error does to a node process: a panic on stderr, exit 1.
    send({ ev: 'out', id: c.id, stream: 'stderr', text: `${(e as Error).stack ?? (e as Error).message}\n` });
    return exit(1);
  }
  if (!ended) nodes.set(c.id, node);
}

async function end(c: Extract<Command, { op: 'stop' | 'kill' }>) {
  const node = nodes.get(c.id);
  nodes.delete(c.id);
  if (node) await (c.op === 'stop' ? node.stop() : node.kill()).catch(() => undefined);
  send({ ev: 'stopped', id: c.id });
}

// One node's unexpected error must not end the others (a real node crashing takes only itself).
process.on('uncaughtException', (e) => process.stderr.write(`node host: ${e.stack ?? e.message}\n`));
process.on('unhandledRejection', (e) => process.stderr.write(`node host: ${(e as Error)?.stack ?? String(e)}\n`));

createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line) as Command;
  if (c.op === 'start') start(c);
  else void end(c);
});
process.stdin.on('end', () => {
  for (const node of nodes.values()) void node.kill();
  process.exit(0);
});
