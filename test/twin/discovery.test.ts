/**
 * Discovery tells denial from absence: an error reading the NEAR stack (access denied, …) is
 * reported as what it is, classified; only a stack that does not exist is "NEAR base not found".
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { discover } from '../../helpers/aws/cloudformation.ts';
import { classified } from '../../helpers/errors.ts';
import type { AwsEndpoint } from '../../twin/aws/server.ts';
import { cdkOutputKey } from '../../twin/aws/server.ts';
import { fakeHost, REGION, startTestEndpoint } from './aws-support.ts';

const MPC = 'MpcStandaloneStack';
const NEAR = 'near-localnet-infrastructure';

describe('discovery of the deployment from CloudFormation', () => {
  const host = fakeHost([]);
  let aws: AwsEndpoint;
  const saved = { ...process.env };
  beforeAll(async () => {
    aws = await startTestEndpoint(host, {
      stacks: [
        {
          stackName: MPC,
          outputs: [0, 1].flatMap((i) => [
            { key: cdkOutputKey(['MpcNetwork', `Node${i}InstanceId`]), value: `i-0000000000000000${i}` },
            { key: cdkOutputKey(['MpcNetwork', `Node${i}PrivateIp`]), value: `10.0.0.${10 + i}` },
            { key: cdkOutputKey(['MpcNetwork', `Node${i}AccountId`]), value: `mpc-node-${i}.localnet` },
          ]),
        },
        {
          stackName: NEAR,
          outputs: [
            { key: 'nearinstanceid', value: 'i-0near000000000001' },
            { key: 'nearinstanceprivateip', value: '10.0.0.2' },
          ],
        },
      ],
    });
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: aws.url,
      AWS_ACCESS_KEY_ID: 'AKIATWINTEST',
      AWS_SECRET_ACCESS_KEY: 'twin-test-secret',
    });
  });
  afterAll(async () => {
    for (const k of ['AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await aws.stop();
    host.cleanup();
  });
  const origin = { system: `AWS CloudFormation in ${REGION}`, setting: 'AWS_REGION, AWS_PROFILE and AWS_ENDPOINT_URL' };

  test('both stacks readable: nodes and the NEAR base', async () => {
    const d = await discover(REGION, MPC, NEAR);
    expect(d.nodes.map((n) => n.accountId)).toEqual(['mpc-node-0.localnet', 'mpc-node-1.localnet']);
    expect(d.nearBase).toEqual({ instanceId: 'i-0near000000000001', privateIp: '10.0.0.2' });
    expect(d.nearBaseMissing).toBeUndefined();
  });

  test('a NEAR stack the role may not read is an access-denied error naming the stack, not "not found"', async () => {
    aws.faults.deny = [{ service: 'cloudformation', operation: 'DescribeStacks', input: { StackName: NEAR } }];
    try {
      const e = await discover(REGION, MPC, NEAR).then(
        () => expect.fail('discovery succeeded although the NEAR stack is denied'),
        (err: unknown) => err,
      );
      const c = classified(e, origin) as Error & { kind: string };
      expect(c.kind).toBe('access-denied');
      expect(c.message).toMatch(/^AWS CloudFormation in us-east-1: access denied \(/);
      expect(c.message).toMatch(/User: arn:aws:sts::\d+:assumed-role\/mpc-runbook\/mpc-runbook is not authorized/);
      expect(c.message).toContain(
        'cloudformation:DescribeStacks on resource: ' +
          'arn:aws:cloudformation:us-east-1:111122223333:stack/near-localnet-infrastructure/*',
      );
      expect(c.message).toContain('The role the runbook runs as needs this permission');
      expect(c.message).not.toMatch(/not found|does not exist/);
    } finally {
      aws.faults.deny = [];
    }
  });

  test('a throttling burst on the NEAR stack is absorbed by the retries: the NEAR base is still found', async () => {
    aws.faults.throttle.push({ service: 'cloudformation', count: 2, input: { StackName: NEAR } });
    const d = await discover(REGION, MPC, NEAR);
    expect(d.nearBase?.instanceId).toBe('i-0near000000000001');
    expect(aws.faults.throttle.every((t) => t.count === 0)).toBe(true);
  });

  test('a NEAR stack that does not exist (or another region) is absence, with the reason', async () => {
    const d = await discover(REGION, MPC, 'no-such-stack');
    expect(d.nearBase).toBeUndefined();
    expect(d.nearBaseMissing).toBe(
      'CloudFormation stack no-such-stack does not exist in us-east-1 (set NEAR_STACK_NAME)',
    );
  });

  test('a NEAR stack without the nearinstanceid output says so', async () => {
    const d = await discover(REGION, MPC, MPC);
    expect(d.nearBaseMissing).toBe(`stack ${MPC} has no nearinstanceid output`);
  });

  test('a missing MPC stack is still "does not exist"; a denied one is access denied', async () => {
    await expect(discover(REGION, 'nope', NEAR)).rejects.toThrow(
      /CloudFormation stack nope does not exist in us-east-1/,
    );
    aws.faults.deny = [{ service: 'cloudformation', input: { StackName: MPC } }];
    try {
      const e = await discover(REGION, MPC, NEAR).catch((err: unknown) => err);
      expect((classified(e, origin) as Error & { kind: string }).kind).toBe('access-denied');
    } finally {
      aws.faults.deny = [];
    }
  });
});
