/**
 * The node's P2P mesh, as `new_tls_mesh_network` builds it (near/mpc 3.1.0 p2p.rs, mpc-facts §3.3):
 * a TCP listener on the port of the node's own participant URL (or config.yaml
 * `indexer.port_override`, which replaces the port of every participant) and one persistent
 * outgoing connection per peer, dialled at the peer's URL host and port and retried every second.
 *
 * The real mesh speaks TLS; the twin speaks newline-delimited JSON over plain TCP: `hello` carries
 * the P2P public key (standing for the TLS certificate both sides check against the participants'
 * sign_pk) and `commitment` serves the keygen commitments. Anything else sent to the port (an HTTP
 * request, say) is dropped the way a TLS listener drops a client that does not speak TLS: the
 * connection closes without an answer.
 *
 * Before each dial the node asks the network whether the security groups let it through; a dial
 * they forbid is a dropped SYN (the dial hangs until the connect timeout), never a refusal.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { interruptibleSleep } from './node-logic.ts';

export interface Peer {
  id: number;
  accountId: string;
  host: string;
  port: number;
  signPk: string;
}

export interface MeshOptions {
  myId: number;
  accountId: string;
  p2pPublicKey: string;
  /** The instance address (the real node binds 0.0.0.0; the twin's instances share one host). */
  hostIp: string;
  listenPort: number;
  /** Every participant, me included (identities of incoming connections are checked against it). */
  participants: Peer[];
  /** May I open a TCP connection to each of these? (the security groups; absent = yes) */
  reach: (targets: { host: string; port: number }[]) => Promise<boolean[]>;
  /** How long a dropped SYN hangs before the dial fails. */
  connectTimeoutMs: number;
  retryDelayMs?: number;
  /** My commitment for a key event ("epoch_domain_attempt"), if I have a share for it. */
  commitment: (eventKey: string) => string | undefined;
  log: (level: 'INFO' | 'WARN' | 'ERROR', msg: string) => void;
  setLive: (peerId: number, live: number) => void;
}

/** The listener could not bind; `osMessage` is the OS error as Rust's io::Error prints it. */
export class BindError extends Error {
  readonly osMessage: string;
  constructor(osMessage: string) {
    super(`TCP bind: ${osMessage}`);
    this.osMessage = osMessage;
  }
}

const OS_ERRORS: Record<string, string> = {
  EADDRINUSE: 'Address already in use (os error 98)',
  EADDRNOTAVAIL: 'Cannot assign requested address (os error 99)',
  EACCES: 'Permission denied (os error 13)',
};

type Message =
  | { t: 'hello'; account_id: string; p2p_public_key: string }
  | { t: 'commitment'; req: number; key: string; commitment?: string | null };

/** Newline-delimited JSON on a socket; a first byte that is not `{` ends the connection. */
function lines(socket: Socket, onMessage: (m: Message) => void, onGarbage: () => void) {
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    buf += d;
    if (!buf.trimStart().startsWith('{') && buf.trim() !== '') return onGarbage();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        onMessage(JSON.parse(line) as Message);
      } catch {
        return onGarbage();
      }
    }
  });
}

const send = (socket: Socket, m: Message) => socket.write(`${JSON.stringify(m)}\n`);

/** One outgoing connection that completed the hello. */
interface Outgoing {
  socket: Socket;
  pending: Map<number, (commitment: string | null) => void>;
}

export interface Mesh {
  /** Outgoing connections are up to every peer (what the keygen leader waits for). */
  allConnected(): boolean;
  /** A peer's commitment for a key event, over my connection to it. */
  commitmentOf(peerId: number, eventKey: string): Promise<string>;
  close(): void;
}

export async function startMesh(o: MeshOptions): Promise<Mesh> {
  const retryDelayMs = o.retryDelayMs ?? 1000;
  const byKey = new Map(o.participants.map((p) => [p.signPk, p]));
  const sockets = new Set<Socket>();
  let closed = false;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let peer: Peer | undefined;
    lines(
      socket,
      (m) => {
        if (m.t === 'hello') {
          peer = byKey.get(m.p2p_public_key);
          if (!peer || peer.accountId !== m.account_id || peer.id === o.myId) return socket.destroy();
          send(socket, { t: 'hello', account_id: o.accountId, p2p_public_key: o.p2pPublicKey });
          o.log('INFO', `Incoming ${o.myId} <-- ${peer.id} connected`);
        } else if (m.t === 'commitment' && peer) {
          send(socket, { t: 'commitment', req: m.req, key: m.key, commitment: o.commitment(m.key) ?? null });
        } else socket.destroy();
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(new BindError(OS_ERRORS[e.code ?? ''] ?? e.message.replace(/^listen \w+: /, ''))),
    );
    server.listen(o.listenPort, o.hostIp, () => ok());
  });

  const outgoing = new Map<number, Outgoing>();
  const { sleep, wakeAll } = interruptibleSleep();

  /** TCP connect, then the hello both ways; rejects with the context the real node's error carries. */
  function dial(peer: Peer): Promise<Outgoing> {
    return new Promise((ok, fail) => {
      const socket = connect({ host: peer.host, port: peer.port, localAddress: o.hostIp });
      sockets.add(socket);
      let connected = false;
      let conn: Outgoing | undefined;
      const failWith = (context: string) => {
        socket.destroy();
        fail(new Error(context));
      };
      const handshake = setTimeout(() => failWith('TLS connect'), 10_000);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        clearTimeout(handshake);
        if (!conn) failWith(connected ? 'TLS connect' : 'TCP connect');
      });
      socket.on('connect', () => {
        connected = true;
        send(socket, { t: 'hello', account_id: o.accountId, p2p_public_key: o.p2pPublicKey });
      });
      lines(
        socket,
        (m) => {
          if (!conn) {
            clearTimeout(handshake);
            if (m.t !== 'hello') return failWith('TLS connect');
            const who = byKey.get(m.p2p_public_key);
            if (!who) return failWith('Verify server identity');
            if (who.id !== peer.id)
              return failWith(`Incorrect peer identity, expected ${peer.id}, authenticated ${who.id}`);
            conn = { socket, pending: new Map() };
            return ok(conn);
          }
          if (m.t === 'commitment') conn.pending.get(m.req)?.(m.commitment ?? null);
        },
        () => failWith('TLS connect'),
      );
    });
  }

  async function persistentConnection(peer: Peer, firstVerdict: boolean) {
    for (let attempt = 0; !closed; attempt++) {
      let conn: Outgoing | undefined;
      let error = 'TCP connect';
      const [allowed] =
        attempt === 0 ? [firstVerdict] : await o.reach([{ host: peer.host, port: peer.port }]).catch(() => [true]);
      if (closed) return;
      if (!allowed)
        await sleep(o.connectTimeoutMs); // the SYN is dropped: the dial hangs, then fails
      else {
        try {
          conn = await dial(peer);
        } catch (e) {
          error = (e as Error).message;
        }
      }
      if (closed) return conn?.socket.destroy();
      if (!conn) {
        o.setLive(peer.id, 0);
        o.log('INFO', `Could not connect to ${peer.id}, retrying: ${error}, me ${o.myId}`);
        await sleep(retryDelayMs);
        continue;
      }
      outgoing.set(peer.id, conn);
      o.setLive(peer.id, 1);
      o.log('INFO', `Outgoing ${o.myId} --> ${peer.id} connected`);
      await new Promise<void>((done) => conn.socket.once('close', () => done()));
      outgoing.delete(peer.id);
      for (const resolve of conn.pending.values()) resolve(null);
      o.setLive(peer.id, 0);
    }
  }

  const peers = o.participants.filter((p) => p.id !== o.myId);
  // One question for every peer's first dial; each retry asks again (the rules may have changed).
  const first = await o.reach(peers.map((p) => ({ host: p.host, port: p.port }))).catch(() => peers.map(() => true));
  peers.forEach((p, i) => void persistentConnection(p, first[i] ?? true));
  let nextReq = 0;

  return {
    allConnected: () => peers.every((p) => outgoing.has(p.id)),
    async commitmentOf(peerId, eventKey) {
      const conn = outgoing.get(peerId);
      if (!conn) throw new Error(`Cannot send MPC message to ${peerId}`);
      const req = nextReq++;
      const answer = await new Promise<string | null>((ok) => {
        const t = setTimeout(() => ok(null), 2000);
        conn.pending.set(req, (c) => {
          clearTimeout(t);
          conn.pending.delete(req);
          ok(c);
        });
        send(conn.socket, { t: 'commitment', req, key: eventKey });
      });
      if (!answer) throw new Error(`participant ${peerId} has no commitment for ${eventKey}`);
      return answer;
    },
    close() {
      closed = true;
      server.close();
      for (const s of sockets) s.destroy();
      wakeAll();
      for (const p of peers) o.setLive(p.id, 0);
    },
  };
}
