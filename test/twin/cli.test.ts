import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';

test('npm run twin prints the export block first, keeps the twin up, and stops cleanly on Ctrl-C', async () => {
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, '..', '..', 'twin', 'cli.ts'),
      '--scenario',
      'incident-key-mismatch',
      '--rpc-port',
      '0',
      '--block-time-ms',
      '200',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`no banner within 60 s: ${out}`)), 60_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ctrl-C stops the twin')) {
        clearTimeout(timer);
        ok();
      }
    });
  });
  const lines = out.split('\n');
  const exports = lines.slice(
    0,
    lines.findIndex((l) => !l.startsWith('export ')),
  );
  const names = exports.map((l) => /^export ([A-Z0-9_]+)=/.exec(l)?.[1]);
  expect(names).toEqual(
    expect.arrayContaining([
      'RUNBOOK_TARGET',
      'NEAR_RPC_URL',
      'AWS_ENDPOINT_URL',
      'AWS_REGION',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'MPC_KEYS_FILE',
      'MPC_STACK_NAME',
      'EXPECTED_AWS_ACCOUNT_ID',
    ]),
  );
  expect(exports.length).toBeGreaterThanOrEqual(9);
  const rpc = /^export NEAR_RPC_URL=(\S+)$/m.exec(out)![1]!;
  const status = (await (
    await fetch(rpc, {
      method: 'POST',
      body: JSON.stringify({ jsonrpc: '2.0', id: 'x', method: 'status', params: [] }),
    })
  ).json()) as { result: { chain_id: string } };
  expect(status.result.chain_id).toBe('localnet');
  const code = await new Promise<number | null>((ok) => {
    child.on('exit', (c) => ok(c));
    child.kill('SIGINT');
  });
  expect(code).toBe(0);
});
