/**
 * The runbook's remote scripts are POSIX sh: the SSM agent runs them with `sh`, which is dash on the
 * NEAR base (Ubuntu). Every rendered script parses under `dash -n`, uses none of the bash-only forms,
 * and passes the region to `aws` explicitly.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import {
  containerLastWordsScript,
  containerStatusScript,
  nodePublicDataScript,
} from '../../helpers/instances/node-reports.ts';
import { nodeStateScript, ownPublicDataScript, p2pProbeScript } from '../../helpers/instances/own-reports.ts';
import { rematerialiseScript, restoreNodeFileScript } from '../../helpers/repairs/rematerialise-node-secrets.ts';
import { startContainerScript, stopContainerScript } from '../../helpers/repairs/start-container.ts';

const sha = 'a'.repeat(64);
const expected = [
  { index: 0, accountSha256: sha, p2pSha256: 'b'.repeat(64) },
  { index: 2, accountSha256: 'c'.repeat(64), p2pSha256: sha },
];
const instances = [
  { index: 0, instanceId: 'i-0a1b2c3d4e5f60718', ip: '10.0.0.10' },
  { index: 1, instanceId: 'i-0a1b2c3d4e5f60719', ip: '10.0.0.11' },
];
const scripts: [string, string[]][] = [
  [
    'nodePublicDataScript',
    nodePublicDataScript([
      { index: 0, ip: '10.0.0.10' },
      { index: 1, ip: '10.0.0.11' },
    ]),
  ],
  ['containerStatusScript', containerStatusScript],
  ['containerLastWordsScript', containerLastWordsScript],
  ['rematerialiseScript (region given)', rematerialiseScript('2026-11-30T12-00-00-000Z-abc123', expected, 'us-east-1')],
  ['rematerialiseScript (the agent region)', rematerialiseScript('run-1', expected)],
  ['restoreNodeFileScript', restoreNodeFileScript('/data/secrets.json.runbook-run-1')],
  ['ownPublicDataScript', ownPublicDataScript(instances)],
  ['nodeStateScript', nodeStateScript(instances)],
  ['p2pProbeScript', p2pProbeScript(instances, [{ to: '0', host: '10.0.0.10', port: 8080 }], 3000)],
  ['startContainerScript', startContainerScript],
  ['stopContainerScript', stopContainerScript('2026-11-30T12:00:00.123456789Z')],
];

describe('remote scripts are POSIX sh', () => {
  test.for(scripts)('%s parses under dash -n', ([, lines]) => {
    const r = spawnSync('dash', ['-n'], { input: `${lines.join('\n')}\n`, encoding: 'utf8' });
    expect(r.error, 'dash must be installed (it is /bin/sh on Debian and Ubuntu)').toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test.for(scripts)('%s uses no bash-only forms', ([, lines]) => {
    const text = lines.join('\n');
    expect(text).not.toMatch(/\blocal\s|<<<|\[\[|pipefail|\bfunction\s|\$\{[^}]*\/\/|\bdeclare\b|\bsource\s/);
  });

  test('every aws call passes --region: the given region, or the one the SSM agent runs in', () => {
    const given = rematerialiseScript('run-1', expected, 'eu-west-1').join('\n');
    const calls = given.split('\n').filter((l) => /\baws\s/.test(l));
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) expect(c).toContain('--region "$R"');
    expect(given).toContain("R='eu-west-1'");
    expect(rematerialiseScript('run-1', expected).join('\n')).toContain('R="${AWS_SSM_REGION_NAME:-}"');
  });

  test('values that would break the script are refused, not quoted into it', () => {
    expect(() => rematerialiseScript('run-1', expected, "us-east-1'; rm -rf /")).toThrow(/not an AWS region/);
    expect(() => rematerialiseScript('run $(id)', expected)).toThrow(/run id/);
    expect(() => rematerialiseScript('run-1', [{ index: 0, accountSha256: 'x', p2pSha256: sha }])).toThrow(/64 hex/);
  });
});
