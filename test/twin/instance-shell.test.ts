/**
 * The instance shell as SSM really runs it (audit row 10): `sh` — dash on the NEAR base, bash as
 * `sh` on the MPC nodes — with the agent's environment (AWS_SSM_REGION_NAME, AWS_SSM_INSTANCE_ID,
 * no AWS_REGION); `aws` finds its region from --region, env, its config file or IMDS, and fails
 * like the CLI without one.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AwsEndpoint } from '../../twin/aws/server.ts';
import { fakeHost, startTestEndpoint } from './aws-support.ts';
import { dummyFleet } from './instances-support.ts';

type Env = Awaited<ReturnType<typeof dummyFleet>>;
const NO_REGION = '\nYou must specify a region. You can also configure your region by running "aws configure".\n';

describe('commands on an instance run as the SSM agent runs them', () => {
  const host = fakeHost([]);
  let aws: AwsEndpoint;
  let env: Env;
  let node: string;
  const base = 'i-0nearbase00000001';
  beforeAll(async () => {
    aws = await startTestEndpoint(host);
    env = await dummyFleet({ awsEndpointUrl: aws.url });
    node = env.ids[0]!;
    env.fleet.addInstance({ instanceId: base, privateIp: '127.0.0.1', role: 'near-base', name: 'near-localnet' });
  });
  afterAll(async () => {
    await env?.stop();
    await aws?.stop();
    host.cleanup();
  });

  test('the NEAR base runs scripts under dash: no bash, no [[ ]], no pipefail', async () => {
    const r = await env.sh(base, [
      'echo "bash=${BASH_VERSION:-none}"',
      'if (set -o pipefail) 2>/dev/null; then echo pipefail=yes; else echo pipefail=no; fi',
      '[[ 1 == 1 ]] && echo "double-brackets"',
      'echo after',
    ]);
    expect(r.stdout).toContain('bash=none');
    expect(r.stdout).toContain('pipefail=no');
    expect(r.stdout).not.toContain('double-brackets');
    expect(r.stderr).toMatch(/\[\[: not found/);
  });

  test('an MPC node runs scripts under bash started as sh (POSIX mode)', async () => {
    const r = await env.sh(node, ['echo "bash=${BASH_VERSION:+yes}"', 'shopt -qo posix && echo posix=on']);
    expect(r.stdout).toBe('bash=yes\nposix=on\n');
    env.fleet.setShell(node, 'dash');
    try {
      expect((await env.sh(node, ['echo "bash=${BASH_VERSION:-none}"'])).stdout).toBe('bash=none\n');
    } finally {
      env.fleet.setShell(node, undefined);
    }
  });

  test('the environment is the agent’s: AWS_SSM_REGION_NAME and AWS_SSM_INSTANCE_ID, no AWS_REGION', async () => {
    for (const id of [base, node]) {
      const r = await env.sh(id, [
        'echo "${AWS_REGION-unset} ${AWS_DEFAULT_REGION-unset} ${AWS_SSM_REGION_NAME} ${AWS_SSM_INSTANCE_ID}"',
      ]);
      expect(r.stdout).toBe(`unset unset us-east-1 ${id}\n`);
    }
  });

  test('aws finds the region from the instance metadata (IMDS)', async () => {
    const r = await env.sh(base, ['aws sts get-caller-identity --query Account --output text']);
    expect(r, r.stderr).toMatchObject({ exitCode: 0, stdout: '111122223333\n' });
  });

  test('aws without a region (IMDS disabled) fails like the CLI: exit 253', async () => {
    env.fleet.setInstanceMetadata(base, false);
    try {
      const r = await env.sh(base, ['aws sts get-caller-identity', 'echo "exit=$?"']);
      expect(r.stderr).toBe(NO_REGION);
      expect(r.stdout).toBe('exit=253\n');
      // --region, AWS_REGION, AWS_DEFAULT_REGION and the config file each give it one.
      const ok = await env.sh(base, [
        'aws sts get-caller-identity --region us-east-1 --query Account --output text',
        'AWS_REGION=us-east-1 aws sts get-caller-identity --query Account --output text',
        'AWS_DEFAULT_REGION=us-east-1 aws sts get-caller-identity --query Account --output text',
      ]);
      expect(ok.stdout, ok.stderr).toBe('111122223333\n'.repeat(3));
      const home = env.fleet.instance(base)!.homeDir;
      mkdirSync(join(home, '.aws'), { recursive: true });
      writeFileSync(join(home, '.aws', 'config'), '[default]\nregion = us-east-1\n[profile ops]\nregion = eu-west-1\n');
      try {
        const cfg = await env.sh(base, ['aws sts get-caller-identity --query Account --output text']);
        expect(cfg.stdout, cfg.stderr).toBe('111122223333\n');
        const missing = await env.sh(base, ['aws sts get-caller-identity --profile nope', 'echo "exit=$?"']);
        expect(missing.stderr).toBe('\nThe config profile (nope) could not be found\n');
        expect(missing.stdout).toBe('exit=255\n');
      } finally {
        writeFileSync(join(home, '.aws', 'config'), '');
      }
    } finally {
      env.fleet.setInstanceMetadata(base, true);
    }
  });

  test('IMDS: a token is required (IMDSv2); a disabled service does not answer', async () => {
    const r = await env.sh(base, [
      'E="$AWS_EC2_METADATA_SERVICE_ENDPOINT"',
      'curl -s -o /dev/null -w "%{http_code}\\n" "$E/latest/meta-data/placement/region"',
      'T=$(curl -s -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" "$E/latest/api/token")',
      'curl -s -H "X-aws-ec2-metadata-token: $T" "$E/latest/meta-data/placement/availability-zone"; echo',
    ]);
    expect(r.stdout).toBe('401\nus-east-1a\n');
    env.fleet.setInstanceMetadata(base, false);
    try {
      const off = await env.sh(base, [
        'curl -s -m 2 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" \\',
        '  "$AWS_EC2_METADATA_SERVICE_ENDPOINT/latest/api/token"',
        'echo "curl=$?"',
      ]);
      expect(off.stdout).toMatch(/^curl=(52|56)\n$/); // empty reply / connection reset: no answer
    } finally {
      env.fleet.setInstanceMetadata(base, true);
    }
  });
});
