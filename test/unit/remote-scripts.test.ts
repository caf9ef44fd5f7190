/**
 * The runbook's remote scripts are POSIX sh: the SSM agent runs them with `sh`, which is dash on the
 * NEAR base (Ubuntu). Every rendered script parses under `dash -n`, uses none of the bash-only forms,
 * and passes the region to `aws` explicitly.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  containerLastWordsScript,
  containerStatusScript,
  missingFromProbe,
  nodePublicDataScript,
  parsePublicData,
} from '../../helpers/instances/node-reports.ts';
import { nodeStateScript, ownPublicDataScript, p2pProbeScript } from '../../helpers/instances/own-reports.ts';
import { rematerialiseScript, restoreNodeFileScript } from '../../helpers/repairs/rematerialise-node-secrets.ts';
import { startContainerScript, stopContainerScript } from '../../helpers/repairs/start-container.ts';
import { tempDir } from '../temp-dir.ts';

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

/**
 * The NEAR base probe's shell and jq, run under dash with a curl that answers as each kind of node
 * would: one line per node with its keys only from a readable /public_data, and no line for a node
 * curl never reported (which the runbook then refuses to read as "no answer").
 */
describe('the NEAR base probe joins what curl saw per node', () => {
  const answers: Record<string, { health: [string, string]; publicData: [string, string]; body?: string }> = {
    '10.0.0.10': {
      health: ['200', '0'],
      publicData: ['200', '0'],
      body: '{\n "near_signer_public_key": "ed25519:S0",\n "near_p2p_public_key": "ed25519:P0"\n}',
    },
    '10.0.0.11': { health: ['200', '0'], publicData: ['200', '0'], body: 'not json' },
    '10.0.0.12': { health: ['503', '0'], publicData: ['500', '0'], body: '{"near_signer_public_key":"ed25519:S2"}' },
    '10.0.0.13': { health: ['000', '7'], publicData: ['000', '7'] },
    '10.0.0.14': { health: ['000', '28'], publicData: ['000', '28'] },
    '10.0.0.15': { health: ['200', '0'], publicData: ['200', '0'], body: '{"near_signer_public_key":{"x":1}}' },
  };
  /** A curl for dash: for each `-o FILE URL`, the W line and the body the node at that address gives. */
  const fakeCurl = [
    '#!/bin/sh',
    'while [ $# -gt 0 ]; do',
    '  if [ "$1" = -o ]; then f=$2; u=$3; shift 3',
    '    ip=${u#http://}; ip=${ip%%:*}; what=${u##*/}',
    ...Object.entries(answers).map(([ip, a]) =>
      [
        `    if [ "$ip" = ${ip} ]; then`,
        `      if [ "$what" = health ]; then echo "W $f ${a.health.join(' ')}"`,
        `        [ ${a.health[1]} != 0 ] || printf ok > "$f"`,
        `      else echo "W $f ${a.publicData.join(' ')}"; ${a.body ? `printf '%s' '${a.body}' > "$f"` : ':'}; fi`,
        '    fi',
      ].join('\n'),
    ),
    '  else shift; fi',
    'done',
  ].join('\n');

  test('keys from a readable /public_data only; curl exit codes kept; an unreported node has no line', () => {
    const dir = tempDir('probe-');
    writeFileSync(join(dir, 'curl'), fakeCurl, { mode: 0o755 });
    const nodes = [...Object.keys(answers), '10.0.0.16'].map((ip, index) => ({ index, ip }));
    const r = spawnSync('dash', ['-c', nodePublicDataScript(nodes).join('\n')], {
      encoding: 'utf8',
      env: { PATH: `${dir}:${process.env.PATH}` },
    });
    expect(r.stderr).toBe('');
    const lines = parsePublicData(r.stdout);
    expect(Object.fromEntries(lines)).toEqual({
      0: { health: '200', signer: 'ed25519:S0', p2p: 'ed25519:P0', curlExit: 0 },
      1: { health: '200', curlExit: 0 },
      2: { health: '503', curlExit: 0 },
      3: { health: '000', curlExit: 7 },
      4: { health: '000', curlExit: 28 },
      5: { health: '200', curlExit: 0 },
    });
    expect(missingFromProbe(nodes, lines)).toEqual([6]);
  });

  test('an address that is not IPv4 is refused, naming the node', () => {
    expect(() => nodePublicDataScript([{ index: 4, ip: '10.0.0.1; reboot' }])).toThrow(
      /node 4: privateIp .* not an IPv4/,
    );
  });
});
