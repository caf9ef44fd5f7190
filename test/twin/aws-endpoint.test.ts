/**
 * The twin's AWS endpoint as a whole: CloudFormation outputs with CDK-hashed keys, STS identity,
 * the wire protocol details (request ids, error encodings), faults (throttling absorbed or
 * surfaced, 5xx), and the call statistics.
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeInstanceInformationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { cdkOutputKey } from '../../twin/aws/cloudformation.ts';
import { configureAwsFaults, defaultAwsFaults, type AwsEndpoint } from '../../twin/aws/server.ts';
import { ACCOUNT, clientConfig, fakeHost, rejection, REGION, startTestEndpoint, type FakeHost } from './aws-support.ts';

describe('cdkOutputKey', () => {
  test('matches the logical ids CDK computes (aws-facts §5.2, mpc-facts §5.5)', () => {
    expect(cdkOutputKey(['MpcNetwork', 'Node0InstanceId'])).toBe('MpcNetworkNode0InstanceId6287DE88');
    expect(cdkOutputKey(['MpcNetwork', 'Node0', 'InstanceId'])).toBe('MpcNetworkNode0InstanceId1EF90939');
    expect(cdkOutputKey(['Node0', 'InstanceId'])).toBe('Node0InstanceIdEBA93080');
    expect(cdkOutputKey(['InstanceId'])).toBe('InstanceId');
    expect(cdkOutputKey(['Default', 'Instance-Id'])).toBe('InstanceId');
    // The deployed stack's keys, as in cdk-outputs.json.
    expect(cdkOutputKey(['MpcNetwork', 'Node1InstanceId'])).toBe('MpcNetworkNode1InstanceId28D9BF24');
    expect(cdkOutputKey(['MpcNetwork', 'Node2InstanceId'])).toBe('MpcNetworkNode2InstanceId13A310A7');
    expect(cdkOutputKey(['MpcNetwork', 'Node0PrivateIp'])).toBe('MpcNetworkNode0PrivateIp3FA9C84E');
    expect(cdkOutputKey(['MpcNetwork', 'Node2PrivateIp'])).toBe('MpcNetworkNode2PrivateIp607E8201');
    expect(cdkOutputKey(['MpcNetwork', 'Node0AccountId'])).toBe('MpcNetworkNode0AccountIdDA209BBE');
    expect(cdkOutputKey(['MpcNetwork', 'MpcNamespaceId'])).toBe('MpcNetworkMpcNamespaceIdCCC75491');
    // `Resource` is left out of the human part but still hashed; a component the previous one ends with is dropped.
    const md5 = (s: string) => createHash('md5').update(s).digest('hex').slice(0, 8).toUpperCase();
    expect(cdkOutputKey(['Bucket', 'Resource'])).toBe(`Bucket${md5('Bucket/Resource')}`);
    expect(cdkOutputKey(['MyBucket', 'Bucket'])).toBe(`MyBucket${md5('MyBucket/Bucket')}`);
    expect(cdkOutputKey(['Net', 'Default', 'Node-0', 'Id'])).toBe(`NetNode0Id${md5('Net/Node-0/Id')}`);
  });
});

describe('AWS endpoint: CloudFormation, STS, protocol and faults', () => {
  let host: FakeHost;
  let aws: AwsEndpoint;
  const creds = { accessKeyId: 'AKIATWINTEST', secretAccessKey: 'twin-test-secret' };
  beforeAll(async () => {
    host = fakeHost(['i-00000000000000001']);
    aws = await startTestEndpoint(host, {
      stacks: [
        {
          stackName: 'MpcStandaloneStack',
          outputs: [
            { key: 'VpcId', value: 'vpc-0twin', exportName: 'MpcVpcId' },
            {
              key: cdkOutputKey(['MpcNetwork', 'Node0InstanceId']),
              value: 'i-00000000000000001',
              description: 'Node 0 instance',
              exportName: 'MpcNode0InstanceId',
            },
            { key: cdkOutputKey(['MpcNetwork', 'Node0PrivateIp']), value: '10.0.0.10' },
          ],
        },
        {
          stackName: 'near-localnet-infrastructure',
          outputs: [{ key: 'nearinstanceid', value: 'i-0000000000000000b' }],
          status: 'UPDATE_COMPLETE',
        },
      ],
    });
    aws.secrets.create('s', 'v');
  });
  afterEach(() => {
    Object.assign(aws.faults, defaultAwsFaults());
  });
  afterAll(async () => {
    await aws?.stop();
    host?.cleanup();
  });

  test('DescribeStacks by name and all; CDK-hashed output keys; unknown stack → 400 ValidationError', async () => {
    const cfn = new CloudFormationClient(clientConfig(aws));
    try {
      const r = await cfn.send(new DescribeStacksCommand({ StackName: 'MpcStandaloneStack' }));
      const s = r.Stacks![0]!;
      expect(s.StackName).toBe('MpcStandaloneStack');
      expect(s.StackId).toMatch(
        new RegExp(`^arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/MpcStandaloneStack/[0-9a-f-]{36}$`),
      );
      expect(s.StackStatus).toBe('CREATE_COMPLETE');
      expect(s.CreationTime).toBeInstanceOf(Date);
      expect(s.Outputs).toEqual([
        { OutputKey: 'VpcId', OutputValue: 'vpc-0twin', ExportName: 'MpcVpcId' },
        {
          OutputKey: 'MpcNetworkNode0InstanceId6287DE88',
          OutputValue: 'i-00000000000000001',
          Description: 'Node 0 instance',
          ExportName: 'MpcNode0InstanceId',
        },
        { OutputKey: 'MpcNetworkNode0PrivateIp3FA9C84E', OutputValue: '10.0.0.10' },
      ]);
      expect(r.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
      const byId = await cfn.send(new DescribeStacksCommand({ StackName: s.StackId }));
      expect(byId.Stacks![0]!.StackName).toBe('MpcStandaloneStack');

      const all = await cfn.send(new DescribeStacksCommand({}));
      expect(all.Stacks!.map((x) => [x.StackName, x.StackStatus])).toEqual([
        ['MpcStandaloneStack', 'CREATE_COMPLETE'],
        ['near-localnet-infrastructure', 'UPDATE_COMPLETE'],
      ]);

      const e = await rejection(cfn.send(new DescribeStacksCommand({ StackName: 'Nope' })));
      expect(e.name).toBe('ValidationError');
      expect(e.message).toBe('Stack with id Nope does not exist');
      expect(e.$metadata?.httpStatusCode).toBe(400);
      expect(e.$metadata?.attempts).toBe(1);

      // The stacks are live: the twin may change them at run time.
      aws.stacks.push({ stackName: 'Later', outputs: [] });
      expect((await cfn.send(new DescribeStacksCommand({ StackName: 'Later' }))).Stacks![0]!.Outputs).toBeUndefined();
      aws.stacks.pop();
    } finally {
      cfn.destroy();
    }
  });

  test('GetCallerIdentity answers the configured account', async () => {
    const sts = new STSClient(clientConfig(aws));
    try {
      const r = await sts.send(new GetCallerIdentityCommand({}));
      expect(r.Account).toBe(ACCOUNT);
      expect(r.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/mpc-runbook/mpc-runbook`);
      expect(r.UserId).toMatch(/^AROA[A-Z0-9]+:mpc-runbook$/);
    } finally {
      sts.destroy();
    }
  });

  test('the environment variables route an unconfigured client here (AWS_ENDPOINT_URL)', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: aws.url,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: creds.accessKeyId,
      AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
    });
    const sts = new STSClient({});
    try {
      expect((await sts.send(new GetCallerIdentityCommand({}))).Account).toBe(ACCOUNT);
    } finally {
      sts.destroy();
      for (const k of ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  test('a throttling burst of 2 is absorbed by the standard retry (3 attempts); maxAttempts 1 shows it', async () => {
    const sm = new SecretsManagerClient(clientConfig(aws));
    const smOnce = new SecretsManagerClient(clientConfig(aws, { maxAttempts: 1 }));
    const ssmOnce = new SSMClient(clientConfig(aws, { maxAttempts: 1 }));
    const cfnOnce = new CloudFormationClient(clientConfig(aws, { maxAttempts: 1 }));
    try {
      aws.faults.throttle.push({ service: 'secretsmanager', operation: 'GetSecretValue', count: 2 });
      const r = await sm.send(new GetSecretValueCommand({ SecretId: 's' }));
      expect(r.SecretString).toBe('v');
      expect(r.$metadata.attempts).toBe(3);

      aws.faults.throttle.push({ service: 'secretsmanager', count: 1 });
      const e = await rejection(smOnce.send(new GetSecretValueCommand({ SecretId: 's' })));
      expect(e.name).toBe('ThrottlingException');
      expect(e.message).toBe('Rate exceeded');
      expect(e.$metadata).toMatchObject({ httpStatusCode: 400, attempts: 1 });

      aws.faults.throttle.push({ service: 'ssm', count: 1 });
      const s = await rejection(ssmOnce.send(new DescribeInstanceInformationCommand({})));
      expect(s.name).toBe('ThrottlingException');
      expect(s.constructor.name).toBe('ThrottlingException'); // modelled in SSM

      aws.faults.throttle.push({ service: 'cloudformation', operation: 'DescribeStacks', count: 1 });
      const c = await rejection(cfnOnce.send(new DescribeStacksCommand({ StackName: 'MpcStandaloneStack' })));
      expect(c.name).toBe('Throttling');
      expect(c.$metadata?.httpStatusCode).toBe(400);
      // Rules only hit what they name: the stack read now succeeds.
      expect((await cfnOnce.send(new DescribeStacksCommand({ StackName: 'MpcStandaloneStack' }))).Stacks).toHaveLength(
        1,
      );
    } finally {
      sm.destroy();
      smOnce.destroy();
      ssmOnce.destroy();
      cfnOnce.destroy();
    }
  });

  test('5xx faults: failNext5xx and a deterministic error5xxRate; 500s are retried by the SDK', async () => {
    const sm = new SecretsManagerClient(clientConfig(aws));
    const once = new SecretsManagerClient(clientConfig(aws, { maxAttempts: 1 }));
    const sts = new STSClient(clientConfig(aws, { maxAttempts: 1 }));
    try {
      aws.faults.failNext5xx = 2;
      const r = await sm.send(new GetSecretValueCommand({ SecretId: 's' }));
      expect(r.$metadata.attempts).toBe(3);

      aws.faults.failNext5xx = 1;
      const e = await rejection(once.send(new GetSecretValueCommand({ SecretId: 's' })));
      expect(e.name).toBe('InternalServiceError');
      expect(e.$metadata?.httpStatusCode).toBe(500);
      aws.faults.failNext5xx = 1;
      const q = await rejection(sts.send(new GetCallerIdentityCommand({})));
      expect(q.name).toBe('InternalFailure');
      expect(q.$metadata?.httpStatusCode).toBe(500);

      configureAwsFaults(aws.faults, { error5xxRate: 0.5 });
      const outcomes: string[] = [];
      for (let n = 0; n < 6; n++) {
        outcomes.push(
          await once.send(new GetSecretValueCommand({ SecretId: 's' })).then(
            () => 'ok',
            (x: Error) => x.name,
          ),
        );
      }
      expect(outcomes).toEqual([
        'ok',
        'InternalServiceError',
        'ok',
        'InternalServiceError',
        'ok',
        'InternalServiceError',
      ]);
    } finally {
      sm.destroy();
      once.destroy();
      sts.destroy();
    }
  });

  test('latency and scenario fault data', async () => {
    configureAwsFaults(aws.faults, {
      latencyMs: 30,
      throttle: [{ operation: 'GetCallerIdentity', count: 1 }],
      ssmHang: { commandPattern: 'x' },
    });
    expect(aws.faults).toMatchObject({
      latencyMs: 30,
      throttle: [{ operation: 'GetCallerIdentity', count: 1 }],
      ssmHang: { commandPattern: 'x' },
    });
    const sts = new STSClient(clientConfig(aws));
    try {
      const r = await sts.send(new GetCallerIdentityCommand({}));
      expect(r.$metadata.attempts).toBe(2);
      expect(aws.faults.throttle[0]!.count).toBe(0);
    } finally {
      sts.destroy();
    }
    expect(() => configureAwsFaults(aws.faults, { error5xxRate: 2 })).toThrow();
  });

  test('latency profiles from scenario data: aws sets every delay, a field beside it wins, twin puts them back', () => {
    configureAwsFaults(aws.faults, { profile: 'aws', ssmReportDelayMs: 900 });
    expect(aws.faults).toMatchObject({
      latencyMs: 30,
      invocationHiddenPolls: 0,
      invocationDelayMs: 500,
      ssmDeliveryDelayMs: 300,
      ssmReportDelayMs: 900,
    });
    configureAwsFaults(aws.faults, { profile: 'twin' });
    expect(aws.faults).toMatchObject({
      latencyMs: 0,
      invocationHiddenPolls: 0,
      invocationDelayMs: 100,
      ssmDeliveryDelayMs: 0,
      ssmReportDelayMs: 0,
    });
    expect(() => configureAwsFaults(aws.faults, { profile: 'lan' })).toThrow();
  });

  test('wire details: request id header on every response, unknown operations, malformed JSON', async () => {
    const post = (headers: Record<string, string>, body: string) =>
      fetch(aws.url, { method: 'POST', headers, body }).then(async (r) => ({
        status: r.status,
        id: r.headers.get('x-amzn-requestid'),
        text: await r.text(),
      }));
    const unknown = await post(
      { 'x-amz-target': 'secretsmanager.RotateSecretNow', 'content-type': 'application/x-amz-json-1.1' },
      '{}',
    );
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.text).__type).toBe('UnknownOperationException');
    expect(unknown.id).toMatch(/^[0-9a-f-]{36}$/);
    const bad = await post(
      { 'x-amz-target': 'secretsmanager.GetSecretValue', 'content-type': 'application/x-amz-json-1.1' },
      '{nope',
    );
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).__type).toBe('SerializationException');
    const q = await post(
      { 'content-type': 'application/x-www-form-urlencoded' },
      'Action=ListStacks&Version=2010-05-15',
    );
    expect(q.status).toBe(400);
    expect(q.text).toContain('<Code>InvalidAction</Code>');
    expect(q.id).toBeTruthy();
    const ok = await post(
      { 'x-amz-target': 'secretsmanager.GetSecretValue', 'content-type': 'application/x-amz-json-1.1' },
      '{"SecretId":"s"}',
    );
    expect(ok.status).toBe(200);
    expect(typeof JSON.parse(ok.text).CreatedDate).toBe('number'); // epoch seconds
  });

  test('stats count calls per service and operation', async () => {
    aws.resetStats();
    const sts = new STSClient(clientConfig(aws));
    const cfn = new CloudFormationClient(clientConfig(aws));
    try {
      await sts.send(new GetCallerIdentityCommand({}));
      await sts.send(new GetCallerIdentityCommand({}));
      await cfn.send(new DescribeStacksCommand({ StackName: 'MpcStandaloneStack' }));
    } finally {
      sts.destroy();
      cfn.destroy();
    }
    expect(aws.stats()).toEqual({ sts: { GetCallerIdentity: 2 }, cloudformation: { DescribeStacks: 1 } });
  });
});
