/**
 * Bad configuration, run as an operator would run fix with it: each case stops at 00-preflight with
 * one clear sentence (what was found, where, what to do), no repair step runs, nothing is written,
 * and no secret appears in the output.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { base58 } from '@scure/base';
import type { Twin } from '../../twin/start.ts';
import { closedPort, leakedSecrets, runbook, snapshot, workspace } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';

/** No credentials anywhere the SDK looks (env, files, SSO, instance metadata). */
const noCredentials = {
  AWS_ACCESS_KEY_ID: '',
  AWS_SECRET_ACCESS_KEY: '',
  AWS_SESSION_TOKEN: '',
  AWS_PROFILE: '',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
  AWS_CONFIG_FILE: '/nonexistent/config',
  AWS_EC2_METADATA_DISABLED: 'true',
};

describe('fix with bad configuration stops at 00-preflight, says why, and writes nothing', () => {
  let twin: Twin;
  let before: ReturnType<typeof snapshot>;
  /** Secret values written into edited manifests (a broken key is still a secret). */
  const planted: string[] = [];
  const manifestWith = (edit: (m: Record<string, Record<string, string>>) => void) => {
    const m = JSON.parse(readFileSync(twin.manifestPath, 'utf8')) as Record<string, Record<string, string>>;
    edit(m);
    for (const n of Object.values(m)) planted.push(n.MPC_ACCOUNT_SK!, n.MPC_P2P_PRIVATE_KEY!, n.MPC_SECRET_STORE_KEY!);
    const path = join(workspace().dir, 'mpc-node-keys.json');
    writeFileSync(path, JSON.stringify(m, null, 2));
    return path;
  };

  const started = useTwin('incident-key-mismatch');
  beforeAll(() => {
    twin = started();
    before = snapshot(twin);
  });

  /** Each case: what is wrong, the configuration that makes it so, what the run must say (every line given). */
  const cases: [string, () => Promise<Record<string, string>>, RegExp | RegExp[]][] = [
    [
      'the NEAR RPC is unreachable',
      async () => ({ NEAR_RPC_URL: `http://127.0.0.1:${await closedPort()}` }),
      /NEAR RPC at http:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\)\. Check NEAR_RPC_URL/,
    ],
    [
      'the RPC serves another chain',
      async () => ({ NEAR_EXPECTED_CHAIN_ID: 'mainnet' }),
      /serves chain "localnet", but NEAR_EXPECTED_CHAIN_ID is "mainnet"/,
    ],
    [
      'the contract account is not on chain',
      async () => ({ MPC_CONTRACT_ID: 'v2.signer.localnet' }),
      new RegExp(
        String.raw`the contract account v2\.signer\.localnet does not exist on the chain behind ` +
          String.raw`http://127\.0\.0\.1:\d+: set MPC_CONTRACT_ID`,
      ),
    ],
    [
      'AWS credentials are missing',
      async () => noCredentials,
      /no AWS credentials were found \(.*\)\. Set AWS_PROFILE/,
    ],
    [
      'the region is not the expected one',
      async () => ({ EXPECTED_AWS_REGION: 'eu-west-1' }),
      /AWS_REGION is us-east-1, but EXPECTED_AWS_REGION is eu-west-1/,
    ],
    [
      'the manifest lacks a node',
      async () => ({ MPC_KEYS_FILE: manifestWith((m) => delete m['node-1']) }),
      /keys manifest .*mpc-node-keys\.json is not usable:\n\s+- node-1: missing from the manifest/,
    ],
    [
      'two nodes share a key and a third has three malformed secrets: each problem named by node and field',
      async () => ({
        MPC_KEYS_FILE: manifestWith((m) => {
          const sk = m['node-2']!.MPC_ACCOUNT_SK!;
          m['node-2']!.MPC_ACCOUNT_SK = `ed25519:${base58.encode(base58.decode(sk.slice(8)).slice(0, 32))}`;
          m['node-2']!.MPC_SECRET_STORE_KEY = 'not-hex-at-all-0123456789abcdef';
          m['node-2']!.MPC_P2P_PRIVATE_KEY = 'ed25519:0OIl';
          Object.assign(m['node-1']!, {
            MPC_ACCOUNT_SK: m['node-0']!.MPC_ACCOUNT_SK,
            MPC_ACCOUNT_PK: m['node-0']!.MPC_ACCOUNT_PK,
          });
        }),
      }),
      [
        /node-2\.MPC_ACCOUNT_SK: holds only a 32-byte seed; the node needs the 64-byte seed‖public-key form/,
        /node-1\.MPC_ACCOUNT_SK: the same key is also used by node-0\.MPC_ACCOUNT_SK/,
        /node-2\.MPC_P2P_PRIVATE_KEY: is not valid base58 after the ed25519: prefix/,
        /node-2\.MPC_SECRET_STORE_KEY: must be 32 hex characters/,
      ],
    ],
    [
      'the manifest file is missing',
      async () => ({ MPC_KEYS_FILE: '/nonexistent/mpc-node-keys.json' }),
      /keys manifest \/nonexistent\/mpc-node-keys\.json is not usable:\n\s+- file not found \(set MPC_KEYS_FILE/,
    ],
    [
      'the manifest is not JSON',
      async () => {
        const path = join(workspace().dir, 'mpc-node-keys.json');
        writeFileSync(path, '{"node-0": {');
        return { MPC_KEYS_FILE: path };
      },
      /- file is not valid JSON/,
    ],
    [
      'the MPC stack is not the configured one',
      async () => ({ MPC_STACK_NAME: 'MpcStandaloneStackOld' }),
      /CloudFormation stack MpcStandaloneStackOld does not exist in us-east-1 \(set MPC_STACK_NAME/,
    ],
    [
      'the target is unknown',
      async () => ({ RUNBOOK_TARGET: 'cloud' }),
      /fix refuses to run against a target that was not chosen: RUNBOOK_TARGET is "cloud", which is neither/,
    ],
  ];

  test.for(cases)('%s', async ([, env, says]) => {
    const ws = workspace();
    const r = await runbook(twin, 'fix', ws, await env());
    expect(r.code, r.output.slice(-2000)).toBe(1);
    for (const line of [says].flat()) expect(r.output).toMatch(line);
    expect(r.output).toMatch(/00-preflight +\d+ passed, [1-9]\d* failed/);
    expect(r.output).toContain('Next: make 00-preflight pass first');
    expect(r.output).not.toMatch(/\[fix\]/); // no fix-up ran
    expect(ws.journals()).toEqual([]);
    expect(snapshot(twin)).toEqual(before);
    expect(leakedSecrets(twin, r.output + ws.artifacts())).toEqual([]);
    expect(planted.filter((v) => (r.output + ws.artifacts()).includes(v)).map((v) => v.slice(0, 10))).toEqual([]);
  });
});
