/** Secrets Manager on the twin's AWS endpoint, through the unmodified SDK v3 client (aws-facts §3). */
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { randomUUID } from 'node:crypto';
import {
  BatchGetSecretValueCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  paginateListSecrets,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { DEFAULT_FORCE_DELETE_DELAY_MS } from '../../twin/aws/secrets-manager.ts';
import type { AwsEndpoint } from '../../twin/aws/server.ts';
import { ACCOUNT, clientConfig, fakeHost, rejection, REGION, startTestEndpoint, type FakeHost } from './aws-support.ts';

describe('Secrets Manager', () => {
  let host: FakeHost;
  let aws: AwsEndpoint;
  let sm: SecretsManagerClient;
  beforeAll(async () => {
    host = fakeHost([]);
    aws = await startTestEndpoint(host);
    sm = new SecretsManagerClient(clientConfig(aws));
  });
  afterAll(async () => {
    sm?.destroy();
    await aws?.stop();
    host?.cleanup();
  });

  const stagesOf = async (name: string, includeDeprecated = false) => {
    const r = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: includeDeprecated }));
    return Object.fromEntries((r.Versions ?? []).map((v) => [v.VersionId!, v.VersionStages ?? []]));
  };

  test('create, describe, get by name and by ARN; ARN shape; request id on the response', async () => {
    const c = await sm.send(
      new CreateSecretCommand({
        Name: 'mpc/node0',
        SecretString: 'v1',
        Tags: [{ Key: 'app', Value: 'mpc' }],
        Description: 'Node 0',
      }),
    );
    expect(c.ARN).toMatch(new RegExp(`^arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:mpc/node0-[A-Za-z0-9]{6}$`));
    expect(c.Name).toBe('mpc/node0');
    expect(c.VersionId).toBeTruthy(); // the SDK's idempotency token became the version id
    expect(c.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const byName = await sm.send(new GetSecretValueCommand({ SecretId: 'mpc/node0' }));
    expect(byName).toMatchObject({
      ARN: c.ARN,
      Name: 'mpc/node0',
      VersionId: c.VersionId,
      SecretString: 'v1',
      VersionStages: ['AWSCURRENT'],
    });
    expect(byName.CreatedDate).toBeInstanceOf(Date);
    const byArn = await sm.send(new GetSecretValueCommand({ SecretId: c.ARN }));
    expect(byArn.SecretString).toBe('v1');
    const byPartialArn = await sm.send(new GetSecretValueCommand({ SecretId: c.ARN!.slice(0, -7) }));
    expect(byPartialArn.Name).toBe('mpc/node0');

    const d = await sm.send(new DescribeSecretCommand({ SecretId: 'mpc/node0' }));
    expect(d).toMatchObject({
      ARN: c.ARN,
      Name: 'mpc/node0',
      Description: 'Node 0',
      Tags: [{ Key: 'app', Value: 'mpc' }],
      VersionIdsToStages: { [c.VersionId!]: ['AWSCURRENT'] },
    });
    expect(d.CreatedDate).toBeInstanceOf(Date);
    expect(d.LastChangedDate).toBeInstanceOf(Date);
    expect(aws.secrets.current('mpc/node0')).toBe('v1');
  });

  test('GetSecretValue errors: names, statuses and the real messages', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'errs', SecretString: 'x' }));
    await sm.send(new CreateSecretCommand({ Name: 'empty' }));
    const cases: [{ SecretId: string; VersionId?: string; VersionStage?: string }, string, string][] = [
      [{ SecretId: 'nope' }, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret."],
      [
        { SecretId: 'empty' },
        'ResourceNotFoundException',
        "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
      ],
      [
        { SecretId: 'errs', VersionStage: 'AWSPENDING' },
        'ResourceNotFoundException',
        "Secrets Manager can't find the specified secret value for staging label: AWSPENDING",
      ],
      [
        { SecretId: 'errs', VersionId: '00000000-0000-4000-8000-000000000000' },
        'ResourceNotFoundException',
        "Secrets Manager can't find the specified secret value for VersionId: 00000000-0000-4000-8000-000000000000",
      ],
    ];
    for (const [input, name, message] of cases) {
      const e = await rejection(sm.send(new GetSecretValueCommand(input)));
      expect(e.name).toBe(name);
      expect(e).toBeInstanceOf(ResourceNotFoundException);
      expect(e.message).toBe(message);
      expect(e.$metadata?.httpStatusCode).toBe(400);
      expect(e.$metadata?.attempts).toBe(1);
    }
    const current = (await sm.send(new GetSecretValueCommand({ SecretId: 'errs' }))).VersionId!;
    const mismatch = await rejection(
      sm.send(new GetSecretValueCommand({ SecretId: 'errs', VersionId: current, VersionStage: 'AWSPREVIOUS' })),
    );
    expect(mismatch.name).toBe('InvalidRequestException');
    expect(mismatch.message).toBe('You provided a VersionStage that is not associated to the provided VersionId.');
    const exists = await rejection(sm.send(new CreateSecretCommand({ Name: 'errs', SecretString: 'y' })));
    expect(exists).toBeInstanceOf(ResourceExistsException);
    expect(exists.message).toBe('The operation failed because the secret errs already exists.');
  });

  test('PutSecretValue: token idempotency, AWSPREVIOUS, deprecated versions, VersionStages', async () => {
    const name = 'rotating';
    const v1 = (await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'one' }))).VersionId!;
    const token = randomUUID();
    const put = await sm.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: 'two', ClientRequestToken: token }),
    );
    expect(put).toMatchObject({ VersionId: token, VersionStages: ['AWSCURRENT'], Name: name });
    expect(await stagesOf(name)).toEqual({ [v1]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] });

    // Same token, same value: a no-op answering the same version.
    const again = await sm.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: 'two', ClientRequestToken: token }),
    );
    expect(again.VersionId).toBe(token);
    expect(aws.secrets.versions(name)).toHaveLength(2);
    // Same token, different value: ResourceExistsException with the real message (and no value in it).
    const clash = await rejection(
      sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'different', ClientRequestToken: token })),
    );
    expect(clash).toBeInstanceOf(ResourceExistsException);
    const arn = aws.secrets.arn(name)!;
    expect(clash.message).toBe(
      `You can't use ClientRequestToken ${token} because that value is already in use for a version of secret ${arn}.`,
    );
    expect(clash.message).not.toContain('different');
    expect(clash.$metadata?.httpStatusCode).toBe(400);

    // A third put: v1 loses its labels (deprecated), hidden unless IncludeDeprecated.
    const v3 = (await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'three' }))).VersionId!;
    expect(await stagesOf(name)).toEqual({ [token]: ['AWSPREVIOUS'], [v3]: ['AWSCURRENT'] });
    const all = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true }));
    const deprecated = all.Versions!.find((v) => v.VersionId === v1)!;
    expect(deprecated.VersionStages).toBeUndefined();
    expect(deprecated.KmsKeyIds).toEqual(['DefaultEncryptionKey']);
    expect(all.Versions).toHaveLength(3);
    expect(Object.keys((await sm.send(new DescribeSecretCommand({ SecretId: name }))).VersionIdsToStages!)).toEqual([
      token,
      v3,
    ]);
    // The deprecated version is still readable by id.
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: v1 }))).SecretString).toBe('one');

    // VersionStages: AWSPENDING only; AWSCURRENT stays put.
    const pending = (
      await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'four', VersionStages: ['AWSPENDING'] }))
    ).VersionId!;
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe('three');
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' }))).VersionId).toBe(
      pending,
    );
  });

  test('UpdateSecretVersionStage: RemoveFromVersionId rules and the rollback swap', async () => {
    const name = 'rollback';
    const v1 = (await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'good' }))).VersionId!;
    const v2 = (await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'bad' }))).VersionId!;

    const missing = await rejection(
      sm.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'AWSCURRENT', MoveToVersionId: v1 })),
    );
    expect(missing.name).toBe('InvalidParameterException');
    expect(missing.message).toBe(
      "The parameter RemoveFromVersionId can't be empty. " +
        `Staging label AWSCURRENT is currently attached to version ${v2}, ` +
        'so you must explicitly reference that version in RemoveFromVersionId.',
    );
    const wrong = await rejection(
      sm.send(
        new UpdateSecretVersionStageCommand({
          SecretId: name,
          VersionStage: 'AWSCURRENT',
          MoveToVersionId: v1,
          RemoveFromVersionId: v1,
        }),
      ),
    );
    expect(wrong.name).toBe('InvalidParameterException');

    const r = await sm.send(
      new UpdateSecretVersionStageCommand({
        SecretId: name,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: v1,
        RemoveFromVersionId: v2,
      }),
    );
    expect(r.ARN).toBe(aws.secrets.arn(name));
    expect(r.Name).toBe(name);
    expect(await stagesOf(name)).toEqual({ [v1]: ['AWSCURRENT'], [v2]: ['AWSPREVIOUS'] });
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe('good');
    expect(
      (await sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }))).SecretString,
    ).toBe('bad');

    // Custom label: added, then removed without moving.
    await sm.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'KEEP', MoveToVersionId: v2 }));
    expect((await stagesOf(name))[v2]).toEqual(['AWSPREVIOUS', 'KEEP']);
    await sm.send(
      new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'KEEP', RemoveFromVersionId: v2 }),
    );
    expect((await stagesOf(name))[v2]).toEqual(['AWSPREVIOUS']);
  });

  test('BatchGetSecretValue: ids (1-20) with per-secret Errors, Filters with pagination, parameter rules', async () => {
    for (let i = 0; i < 3; i++) aws.secrets.create(`mpc-node-${i}-mpc_account_sk`, `ed25519:key${i}`);
    const r = await sm.send(
      new BatchGetSecretValueCommand({
        SecretIdList: ['mpc-node-0-mpc_account_sk', 'mpc-node-9-mpc_account_sk', 'mpc-node-2-mpc_account_sk'],
      }),
    );
    expect(r.SecretValues!.map((v) => [v.Name, v.SecretString, v.VersionStages])).toEqual([
      ['mpc-node-0-mpc_account_sk', 'ed25519:key0', ['AWSCURRENT']],
      ['mpc-node-2-mpc_account_sk', 'ed25519:key2', ['AWSCURRENT']],
    ]);
    expect(r.Errors).toEqual([
      {
        SecretId: 'mpc-node-9-mpc_account_sk',
        ErrorCode: 'ResourceNotFoundException',
        Message: "Secrets Manager can't find the specified secret.",
      },
    ]);

    const filtered = await sm.send(
      new BatchGetSecretValueCommand({ Filters: [{ Key: 'name', Values: ['mpc-node-'] }], MaxResults: 2 }),
    );
    expect(filtered.SecretValues).toHaveLength(2);
    expect(filtered.NextToken).toBeTruthy();
    const rest = await sm.send(
      new BatchGetSecretValueCommand({
        Filters: [{ Key: 'name', Values: ['mpc-node-'] }],
        MaxResults: 2,
        NextToken: filtered.NextToken,
      }),
    );
    expect(rest.SecretValues!.map((v) => v.Name)).toEqual(['mpc-node-2-mpc_account_sk']);
    expect(rest.NextToken).toBeUndefined();

    const both = await rejection(
      sm.send(new BatchGetSecretValueCommand({ SecretIdList: ['a'], Filters: [{ Key: 'name', Values: ['a'] }] })),
    );
    expect(both.name).toBe('InvalidParameterException');
    const neither = await rejection(sm.send(new BatchGetSecretValueCommand({})));
    expect(neither.name).toBe('InvalidParameterException');
    const maxWithIds = await rejection(sm.send(new BatchGetSecretValueCommand({ SecretIdList: ['a'], MaxResults: 5 })));
    expect(maxWithIds.name).toBe('InvalidParameterException');
    const tooMany = await rejection(
      sm.send(new BatchGetSecretValueCommand({ SecretIdList: Array.from({ length: 21 }, (_, i) => `s${i}`) })),
    );
    expect(tooMany.$metadata?.httpStatusCode).toBe(400);
    expect(tooMany.name).toBe('ValidationException');
  });

  test('ListSecrets filters (name, tag-key, tag-value, negation) and pagination; tags', async () => {
    aws.secrets.create('list/a', 'x', { tags: [{ Key: 'team', Value: 'mpc' }] });
    aws.secrets.create('list/b', 'x', { tags: [{ Key: 'team', Value: 'near' }] });
    aws.secrets.create('list/c', 'x');
    const names = async (filters: { Key: 'name' | 'tag-key' | 'tag-value'; Values: string[] }[]) =>
      ((await sm.send(new ListSecretsCommand({ Filters: filters }))).SecretList ?? []).map((s) => s.Name);
    expect(await names([{ Key: 'name', Values: ['list/'] }])).toEqual(['list/a', 'list/b', 'list/c']);
    expect(await names([{ Key: 'name', Values: ['List/'] }])).toEqual([]); // case-sensitive prefix
    expect(
      await names([
        { Key: 'name', Values: ['list/'] },
        { Key: 'tag-key', Values: ['team'] },
      ]),
    ).toEqual(['list/a', 'list/b']);
    expect(
      await names([
        { Key: 'name', Values: ['list/'] },
        { Key: 'tag-value', Values: ['mp'] },
      ]),
    ).toEqual(['list/a']);
    expect(
      await names([
        { Key: 'name', Values: ['list/'] },
        { Key: 'tag-value', Values: ['!mpc'] },
      ]),
    ).toEqual(['list/b', 'list/c']);
    const entry = (await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['list/a'] }] })))
      .SecretList![0]!;
    expect(Object.values(entry.SecretVersionsToStages!)).toEqual([['AWSCURRENT']]);

    const pages: string[][] = [];
    for await (const p of paginateListSecrets(
      { client: sm, pageSize: 2 },
      { Filters: [{ Key: 'name', Values: ['list/'] }] },
    )) {
      pages.push((p.SecretList ?? []).map((s) => s.Name!));
    }
    expect(pages).toEqual([['list/a', 'list/b'], ['list/c']]);

    await sm.send(
      new TagResourceCommand({
        SecretId: 'list/c',
        Tags: [
          { Key: 'team', Value: 'ops' },
          { Key: 'x', Value: '1' },
        ],
      }),
    );
    expect(
      await names([
        { Key: 'name', Values: ['list/'] },
        { Key: 'tag-value', Values: ['ops'] },
      ]),
    ).toEqual(['list/c']);
    await sm.send(new UntagResourceCommand({ SecretId: 'list/c', TagKeys: ['team'] }));
    expect((await sm.send(new DescribeSecretCommand({ SecretId: 'list/c' }))).Tags).toEqual([{ Key: 'x', Value: '1' }]);
  });

  test('DeleteSecret: forced deletion frees the name only after a delay (asynchronous, as on AWS)', async () => {
    const lock = 'mpc-runbook/fix-lock';
    const scheduled = "You can't create this secret because a secret with this name is already scheduled for deletion.";
    aws.secrets.forceDeleteDelayMs = 400;
    await sm.send(new CreateSecretCommand({ Name: lock, SecretString: '{"runId":"a"}' }));
    const taken = await rejection(sm.send(new CreateSecretCommand({ Name: lock, SecretString: '{"runId":"b"}' })));
    expect(taken.name).toBe('ResourceExistsException');
    const del = await sm.send(new DeleteSecretCommand({ SecretId: lock, ForceDeleteWithoutRecovery: true }));
    expect(del.DeletionDate).toBeInstanceOf(Date);
    // Inside the window: the name is still taken, reads are refused.
    const early = await rejection(sm.send(new CreateSecretCommand({ Name: lock, SecretString: '{"runId":"b"}' })));
    expect([early.name, early.message]).toEqual(['InvalidRequestException', scheduled]);
    expect((await rejection(sm.send(new GetSecretValueCommand({ SecretId: lock })))).name).toBe(
      'InvalidRequestException',
    );
    expect(aws.secrets.scheduledForDeletion(lock)).toBe(true);
    // A second forced delete in the window does not extend it; the name comes free by itself.
    await sm.send(new DeleteSecretCommand({ SecretId: lock, ForceDeleteWithoutRecovery: true }));
    await vi.waitFor(() => expect(aws.secrets.names()).not.toContain(lock), { timeout: 10_000, interval: 50 });
    expect((await rejection(sm.send(new GetSecretValueCommand({ SecretId: lock })))).name).toBe(
      'ResourceNotFoundException',
    );
    await sm.send(new CreateSecretCommand({ Name: lock, SecretString: '{"runId":"b"}' }));
    expect(aws.secrets.current(lock)).toBe('{"runId":"b"}');
    // With the window off, the name is free at once.
    aws.secrets.forceDeleteDelayMs = 0;
    await sm.send(new DeleteSecretCommand({ SecretId: lock, ForceDeleteWithoutRecovery: true }));
    await sm.send(new CreateSecretCommand({ Name: lock, SecretString: '{"runId":"c"}' }));
    expect(aws.secrets.current(lock)).toBe('{"runId":"c"}');
    aws.secrets.forceDeleteDelayMs = DEFAULT_FORCE_DELETE_DELAY_MS;
  });

  test('DeleteSecret with a recovery window blocks reads and re-creation until restored', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'doomed', SecretString: 's' }));
    const bad = await rejection(sm.send(new DeleteSecretCommand({ SecretId: 'doomed', RecoveryWindowInDays: 3 })));
    expect(bad.name).toBe('InvalidParameterException');
    const scheduled = await sm.send(new DeleteSecretCommand({ SecretId: 'doomed', RecoveryWindowInDays: 7 }));
    expect(scheduled.DeletionDate!.getTime()).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    const read = await rejection(sm.send(new GetSecretValueCommand({ SecretId: 'doomed' })));
    expect(read.name).toBe('InvalidRequestException');
    expect(read.$metadata?.httpStatusCode).toBe(400);
    const recreate = await rejection(sm.send(new CreateSecretCommand({ Name: 'doomed', SecretString: 't' })));
    expect(recreate.name).toBe('InvalidRequestException');
    expect(recreate.message).toBe(
      "You can't create this secret because a secret with this name is already scheduled for deletion.",
    );
    expect((await sm.send(new DescribeSecretCommand({ SecretId: 'doomed' }))).DeletedDate).toBeInstanceOf(Date);
    const listed = async (include: boolean) =>
      (
        (
          await sm.send(
            new ListSecretsCommand({ IncludePlannedDeletion: include, Filters: [{ Key: 'name', Values: ['doomed'] }] }),
          )
        ).SecretList ?? []
      ).length;
    expect(await listed(false)).toBe(0);
    expect(await listed(true)).toBe(1);
    await sm.send(new RestoreSecretCommand({ SecretId: 'doomed' }));
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'doomed' }))).SecretString).toBe('s');
  });

  test('SecretBinary round-trips as bytes', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'bin', SecretBinary: new Uint8Array([1, 2, 3, 250]) }));
    const r = await sm.send(new GetSecretValueCommand({ SecretId: 'bin' }));
    expect(r.SecretString).toBeUndefined();
    expect([...r.SecretBinary!]).toEqual([1, 2, 3, 250]);
  });

  test('error messages and the stats never carry secret values', async () => {
    const value = `ed25519:${'S'.repeat(40)}`;
    aws.secrets.create('private', value);
    const token = randomUUID();
    await sm.send(new PutSecretValueCommand({ SecretId: 'private', SecretString: value, ClientRequestToken: token }));
    const e1 = await rejection(
      sm.send(new PutSecretValueCommand({ SecretId: 'private', SecretString: 'other', ClientRequestToken: token })),
    );
    expect(e1.name).toBe('ResourceExistsException');
    expect(e1.message).not.toContain(value);
    expect(e1.message).not.toContain('other');
    expect(JSON.stringify(aws.stats())).not.toContain(value);
    expect(aws.stats().secretsmanager!.GetSecretValue).toBeGreaterThan(0);
  });
});
