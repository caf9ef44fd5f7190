/**
 * Hosted images: containers whose program runs in a shared host process (twin/node/host.ts runs many
 * MPC nodes) instead of a process of its own, so an idle node costs a few MB rather than a Node.js
 * process (~110 MB). The container still has a process of its own — a tiny shell (dash, ~2 MB) the
 * runtime starts, stops and kills like any container process — and its node lives exactly as long:
 *
 *  - start: a new shim (a new pid), and the host starts a node with the container's argv and env, which
 *    reads its config and secrets from its home dir then;
 *  - the node writes: its lines are the container's stdout/stderr (docker logs);
 *  - the node ends by itself (a fatal error, exit 1): the shim is told its exit code and exits with it,
 *    so the runtime sees the process exit (restart policy, RestartCount, `Restarting (1)`);
 *  - the shim gets SIGTERM (docker stop/restart): it exits 0 at once and the host runs the node's own
 *    shutdown; any other end of the shim (SIGKILL, docker kill, a signal from outside) kills the node.
 *    Either way the container reads as exited only once the node's listeners are closed.
 *
 * A host takes up to `nodesPerHost` nodes (its P2P mesh holds both ends of every connection between
 * them), and more hosts start as needed; a host that dies ends its nodes as a crash would (exit 1).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface HostedImage {
  /** The host program's command line (it speaks host.ts's protocol on stdio). */
  host: string[];
  /** The host process's environment besides PATH and HOME (each node gets its container's own). */
  hostEnv?: Record<string, string>;
  /** Most nodes one host runs (default 25). */
  nodesPerHost?: number;
}

export interface HostedNode {
  /** Called with the shim's exit: ends the node (a TERM-trapped exit 0 is SIGTERM; anything else SIGKILL). */
  end(graceful: boolean): Promise<void>;
  readonly running: boolean;
}

interface Host {
  proc: ChildProcess;
  nodes: Map<string, { out: (stream: 'stdout' | 'stderr', text: string) => void; exit: (code: number) => void }>;
  stopped: Map<string, () => void>;
  stderrTail: string;
}

/** The container's own process: waits, exits with the code it is told on stdin; SIGTERM is exit 0. */
const SHIM = 'trap "exit 0" TERM; read -r code || code=1; exit "${code:-1}"';

let shimShell: string | undefined;
/** dash when installed (the smallest shell), else the system's sh. */
function shell(): string {
  shimShell ??= spawnSync('dash', ['-c', ':']).status === 0 ? 'dash' : 'sh';
  return shimShell;
}

export function createNodeHosts(image: HostedImage) {
  const perHost = image.nodesPerHost ?? 25;
  const hosts = new Set<Host>();
  let closing = false;

  function startHost(): Host {
    const proc = spawn(image.host[0]!, image.host.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', ...image.hostEnv },
    });
    const h: Host = { proc, nodes: new Map(), stopped: new Map(), stderrTail: '' };
    proc.stdin!.on('error', () => {});
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      h.stderrTail = (h.stderrTail + d).slice(-4000);
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as {
        ev: string;
        id: string;
        stream?: 'stdout' | 'stderr';
        text?: string;
        code?: number;
      };
      if (m.ev === 'out') h.nodes.get(m.id)?.out(m.stream!, m.text!);
      else if (m.ev === 'exit') {
        const n = h.nodes.get(m.id);
        h.nodes.delete(m.id);
        n?.exit(m.code ?? 1);
      } else if (m.ev === 'stopped') {
        const done = h.stopped.get(m.id);
        h.stopped.delete(m.id);
        done?.();
      }
    });
    proc.on('exit', (code, signal) => {
      hosts.delete(h);
      const why = `node host exited (${signal ?? code}): ${h.stderrTail.trim().split('\n').slice(-3).join(' | ')}\n`;
      for (const [, n] of h.nodes) {
        if (!closing) n.out('stderr', why);
        n.exit(1);
      }
      h.nodes.clear();
      for (const done of h.stopped.values()) done();
      h.stopped.clear();
    });
    hosts.add(h);
    return h;
  }

  const hostWithRoom = () => [...hosts].find((h) => h.nodes.size < perHost) ?? startHost();
  const tell = (h: Host, m: Record<string, unknown>) => h.proc.stdin!.write(`${JSON.stringify(m)}\n`);

  return {
    /** Start the first host ahead of the first container (it loads while the instances boot). */
    prewarm() {
      if (hosts.size === 0) startHost();
    },
    /**
     * Start a node for a container process that was just started: `out` gets what it writes, `exit`
     * its exit code if it ends by itself.
     */
    start(
      id: string,
      argv: string[],
      env: Record<string, string>,
      on: { out: (stream: 'stdout' | 'stderr', text: string) => void; exit: (code: number) => void },
    ): HostedNode {
      const h = hostWithRoom();
      h.nodes.set(id, on);
      tell(h, { op: 'start', id, argv, env });
      return {
        get running() {
          return h.nodes.has(id);
        },
        end(graceful) {
          if (!h.nodes.delete(id) || !hosts.has(h)) return Promise.resolve();
          return new Promise<void>((ok) => {
            h.stopped.set(id, ok);
            tell(h, { op: graceful ? 'stop' : 'kill', id });
          });
        },
      };
    },
    /** The container's process: a shim that lives as long as its node. */
    spawnShim(env: Record<string, string>, cwd: string): ChildProcess {
      const shim = spawn(shell(), ['-c', SHIM, 'mpc-node'], { env, cwd, stdio: ['pipe', 'ignore', 'ignore'] });
      shim.stdin!.on('error', () => {});
      return shim;
    },
    /** Stop every host (their nodes were stopped with their containers). */
    async closeAll() {
      closing = true;
      await Promise.all(
        [...hosts].map(
          (h) =>
            new Promise<void>((ok) => {
              const kill = setTimeout(() => h.proc.kill('SIGKILL'), 3000);
              h.proc.once('exit', () => {
                clearTimeout(kill);
                ok();
              });
              h.proc.stdin!.end();
            }),
        ),
      );
    },
  };
}
export type NodeHosts = ReturnType<typeof createNodeHosts>;
