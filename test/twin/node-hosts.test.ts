/**
 * The twin's nodes run many to a host process, each behind a container process of its own
 * (twin/instances/node-hosts.ts): every node still starts, stops, crashes and reads its files as a
 * process would — a new pid per start, SIGTERM its own shutdown, a crash-loop under --restart=always.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { useTwin } from '../twin-fixture.ts';

describe('hosted nodes behave as processes', () => {
  const twin = useTwin('healthy');
  const node = (i: number) => twin().nodes[i]!;
  const docker = (i: number, argv: string[]) => twin().fleet.docker(node(i).instanceId, argv);
  const state = (i: number) => twin().fleet.container(node(i).instanceId, 'mpc-node')!;
  const get = (i: number, path: string) =>
    fetch(`http://${node(i).privateIp}:8080${path}`, { signal: AbortSignal.timeout(2000) }).then(
      async (r) => (r.ok ? await r.text() : `HTTP ${r.status}`),
      (e: Error) => `down: ${(e.cause as { code?: string })?.code ?? e.message}`,
    );
  const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');

  test('each node has a container process of its own (its pid), and answers on its own address', async () => {
    const pids = twin().nodes.map((_, i) => state(i).State.Pid);
    expect(new Set(pids).size).toBe(pids.length);
    for (const [i, pid] of pids.entries()) {
      expect(pid).toBeGreaterThan(0);
      expect(cmdline(pid)).toContain('mpc-node'); // the shim, named after the node program
      expect(await get(i, '/health')).toBe('OK');
    }
  });

  test('docker stop is the node’s own shutdown (exit 0, web UI gone); start reads secrets.json again', async () => {
    const home = node(0).dataDir;
    const original = readFileSync(join(home, 'secrets.json'), 'utf8');
    const before = JSON.parse(await get(0, '/public_data')).near_signer_public_key;
    const oldPid = state(0).State.Pid;
    expect((await docker(0, ['stop', 'mpc-node'])).exitCode).toBe(0);
    expect(state(0).State).toMatchObject({ Running: false, ExitCode: 0, Pid: 0 });
    expect(await get(0, '/health')).toBe('down: ECONNREFUSED');
    // Another node's key in the file: the started node signs with what the file says now.
    writeFileSync(join(home, 'secrets.json'), readFileSync(join(node(1).dataDir, 'secrets.json')));
    expect((await docker(0, ['start', 'mpc-node'])).exitCode).toBe(0);
    expect(state(0).State.Pid).not.toBe(oldPid);
    await expect.poll(() => get(0, '/public_data'), { timeout: 30_000 }).toMatch(/near_signer_public_key/);
    const after = JSON.parse(await get(0, '/public_data')).near_signer_public_key;
    expect(after).not.toBe(before);
    expect(after).toBe(JSON.parse(await get(1, '/public_data')).near_signer_public_key);
    writeFileSync(join(home, 'secrets.json'), original);
    expect((await docker(0, ['restart', 'mpc-node'])).exitCode).toBe(0);
    await expect.poll(() => get(0, '/public_data'), { timeout: 30_000 }).toContain(before);
  });

  test('a node that cannot start crash-loops under --restart=always: exit 1, RestartCount rises', async () => {
    const file = join(node(2).dataDir, 'secrets.json');
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, JSON.stringify({ p2p_private_key: 'nope', near_signer_key: 'nope' }));
    expect((await docker(2, ['restart', 'mpc-node'])).exitCode).toBe(0);
    await expect.poll(() => state(2).RestartCount, { timeout: 60_000 }).toBeGreaterThanOrEqual(2);
    expect(state(2).State.ExitCode).toBe(1);
    const logs = (await docker(2, ['logs', 'mpc-node'])).stderr;
    expect(logs.split("Error: Key must start with 'ed25519:' prefix").length - 1).toBeGreaterThanOrEqual(2);
    writeFileSync(file, original);
    await expect.poll(() => get(2, '/health'), { timeout: 60_000 }).toBe('OK');
    expect(state(2).State.Running).toBe(true);
  });

  test('killing the container process from outside kills its node; the restart policy starts a new one', async () => {
    const pid = state(1).State.Pid;
    const started = state(1).State.StartedAt;
    process.kill(pid, 'SIGKILL');
    await expect.poll(() => state(1).State.StartedAt, { timeout: 30_000 }).not.toBe(started);
    expect(state(1).RestartCount).toBe(1);
    expect(state(1).State.Pid).not.toBe(pid);
    await expect.poll(() => get(1, '/health'), { timeout: 30_000 }).toBe('OK');
    const logs = (await docker(1, ['logs', 'mpc-node'])).stdout;
    expect(logs.split('web server listening on').length - 1).toBe(2);
  });
});
