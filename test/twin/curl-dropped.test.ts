/**
 * The curl stand-in's bash path for a dropped SYN (twin/instances/cli/curl-dropped.sh): the plain forms
 * probes use wait out the shortest timeout and fail with 28, rendering --write-out as curl does for a
 * transfer that never connected; every other form is handed back (return 1) to the faithful stand-in.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

const SCRIPT = join(import.meta.dirname, '..', '..', 'twin', 'instances', 'cli', 'curl-dropped.sh');

/** Run dropped_transfer ARGS in bash; `handed back` when it returns instead of exiting. */
function dropped(...args: string[]) {
  const r = spawnSync('bash', ['-c', `. "$0"; dropped_transfer "$@"; echo "handed back $?"`, SCRIPT, ...args], {
    encoding: 'utf8',
  });
  return { exit: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('a dropped transfer in bash', () => {
  test("the probe's form: silent, no file, the shortest timeout waited out, the write-out of no connection", () => {
    const r = dropped(
      '-s',
      '-o',
      '/dev/null',
      '--connect-timeout',
      '0.2',
      '--max-time',
      '5',
      '-w',
      '%{time_connect} %{http_code}',
      'http://10.0.0.12:3001/',
    );
    expect(r).toEqual({ exit: 28, stdout: '0.000000 000', stderr: '' });
  });

  test('not silenced, it says why; the write-out knows the URL, the error and the time taken', () => {
    const r = dropped(
      '-m',
      '0.05',
      '-w',
      '%{exitcode} %{scheme} %{url} [%{errormsg}] %{time_total} 100%% %{\\n',
      'https://h:1/',
    );
    expect(r.exit).toBe(28);
    expect(r.stderr).toMatch(/^curl: \(28\) Connection timed out after \d+ milliseconds\n$/);
    const message = r.stderr.slice('curl: (28) '.length, -1);
    expect(r.stdout).toMatch(/^28 HTTPS https:\/\/h:1\/ \[(.+)\] 0\.\d{6} 100% %\{\n$/);
    expect(r.stdout).toContain(`[${message}]`);
  });

  test('-s -S still shows the error', () => {
    expect(dropped('-sS', '--connect-timeout', '0.01', 'http://h:1/').stderr).toMatch(/^curl: \(28\) Connection/);
  });

  test.each([
    ['no timeout (the kernel gives up after ~127 s)', ['-s', 'http://h:1/']],
    ['two URLs', ['-m', '1', 'http://h:1/', 'http://h:2/']],
    ['a write-out file', ['-m', '1', '-w', '@wo.txt', 'http://h:1/']],
    ['a write-out to stderr', ['-m', '1', '-w', '%{stderr}x', 'http://h:1/']],
    ['an unknown write-out variable', ['-m', '1', '-w', '%{nope}', 'http://h:1/']],
    ['an option it does not know', ['-m', '1', '--retry', '2', 'http://h:1/']],
    ['a timeout that is no number', ['-m', '1s', 'http://h:1/']],
  ])('%s: handed back to the faithful stand-in, nothing written', (_, args) => {
    expect(dropped(...args)).toEqual({ exit: 0, stdout: 'handed back 1\n', stderr: '' });
  });
});
