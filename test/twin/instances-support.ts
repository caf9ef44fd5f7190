/** Shared pieces for the instance-sandbox tests: a tiny dummy image program and a fleet around it. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash, randomInt } from 'node:crypto';
import { createFleet, type Fleet } from '../../twin/instances/fleet.ts';
import type { CommandResult } from '../../twin/aws/instance-host.ts';
import { vi } from 'vitest';

export const REPO_DIR = resolve(import.meta.dirname, '..', '..');
export const IMAGE = 'nearone/mpc-node:3.2.0';

/**
 * The dummy "node": serves GET /health and GET /info on TWIN_HOST_IP (random port, announced in its
 * log), prints a tick per 100 ms on stdout and one per 500 ms on stderr, reports a fingerprint of
 * $MPC_HOME_DIR/secrets.json's near_signer_key (never the key), exits 1 at once if DUMMY_CRASH=1.
 */
const DUMMY = `
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
const home = process.env.MPC_HOME_DIR ?? '/data';
const args = process.argv.slice(2);
if (process.env.DUMMY_CRASH === '1') {
  console.error('dummy: crashing on purpose, args=' + args.join(' '));
  process.exit(1);
}
const secretsPath = join(home, 'secrets.json');
let signer = null;
if (existsSync(secretsPath)) {
  const s = JSON.parse(readFileSync(secretsPath, 'utf8'));
  signer = createHash('sha256').update(s.near_signer_key).digest('hex').slice(0, 16);
}
const server = createServer((req, res) => {
  if (req.url === '/health') { res.end('OK'); return; }
  if (req.url === '/info') {
    res.setHeader('content-type', 'application/json');
    const marker = existsSync(join(home, 'marker')) ? readFileSync(join(home, 'marker'), 'utf8') : null;
    const rpc = process.env.TWIN_NEAR_RPC_URL ?? null;
    res.end(JSON.stringify({ pid: process.pid, home, args, foo: process.env.FOO ?? null, rpc, marker, signer }));
    return;
  }
  res.statusCode = 404; res.end();
});
server.listen(0, process.env.TWIN_HOST_IP ?? '127.0.0.1', () => {
  console.log('listening on ' + (process.env.TWIN_HOST_IP ?? '127.0.0.1') + ':' + server.address().port);
});
let n = 0;
setInterval(() => console.log('tick ' + ++n), 100);
setInterval(() => console.error('warn tick ' + n), 500);
`;

export const fingerprint = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 16);

export async function dummyFleet(o: { awsEndpointUrl?: string; instances?: number } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'twin-instances-'));
  const program = join(root, 'dummy-node.mjs');
  writeFileSync(program, DUMMY);
  const fleet: Fleet = await createFleet({
    rootDir: join(root, 'instances'),
    repoDir: REPO_DIR,
    awsEndpointUrl: o.awsEndpointUrl ?? 'http://127.0.0.1:9',
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIATWINTEST00000000', secretAccessKey: 'twin-test-secret-access-key' },
    images: {
      [IMAGE]: { command: [process.execPath, program] },
      'dummy/app:1': { command: [process.execPath, program] },
    },
    containerEnv: { TWIN_NEAR_RPC_URL: 'http://127.0.0.1:3030' },
  });
  const block = `127.${randomInt(64, 250)}.${randomInt(0, 255)}`;
  const ids = Array.from({ length: o.instances ?? 1 }, (_, i) => {
    const instanceId = `i-0${createHash('sha256').update(`${root}${i}`).digest('hex').slice(0, 16)}`;
    fleet.addInstance({ instanceId, privateIp: `${block}.${10 + i}`, role: 'mpc-node', name: `mpc-node-${i}` });
    return instanceId;
  });
  return {
    fleet,
    root,
    ids,
    /** Run commands on an instance through the InstanceHost interface (what SSM uses). */
    sh: (
      id: string,
      commands: string[],
      executionTimeoutSeconds = 60,
      workingDirectory?: string,
    ): Promise<CommandResult> =>
      fleet.run(id, commands, { executionTimeoutSeconds, ...(workingDirectory ? { workingDirectory } : {}) }).done,
    async stop() {
      await fleet.stopAll();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Resolves with what fn returns once it is not undefined (Vitest's waitFor, `delayMs` apart). */
export async function eventually<T>(
  fn: () => Promise<T | undefined>,
  what: string,
  attempts = 100,
  delayMs = 100,
): Promise<T> {
  return vi.waitFor(
    async () => {
      const v = await fn();
      if (v === undefined) throw new Error(`still waiting for ${what}`);
      return v;
    },
    { timeout: attempts * delayMs * 5, interval: delayMs },
  );
}
