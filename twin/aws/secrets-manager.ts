/**
 * Secrets Manager as the runbook depends on it: versions and staging labels (AWSCURRENT /
 * AWSPREVIOUS movement), ClientRequestToken idempotency, batch reads, tags, deletion.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { AwsError } from './protocol.ts';

interface Version { id: string; value: string; stages: string[]; created: number }
interface Secret { name: string; arn: string; created: number; changed: number; versions: Version[]; tags: { Key: string; Value: string }[]; deleted?: number; description?: string }

const notFound = () => new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
const now = () => Date.now() / 1000;

export function createSecretsManager(accountId: string, region: string) {
  const secrets = new Map<string, Secret>();

  const find = (id: unknown, allowDeleted = false): Secret => {
    const s = secrets.get(String(id)) ?? [...secrets.values()].find((x) => x.arn === id);
    if (!s) throw notFound();
    if (s.deleted && !allowDeleted) throw new AwsError('InvalidRequestException', 'You can\'t perform this operation on the secret because it was marked for deletion.');
    return s;
  };
  const byStage = (s: Secret, stage: string) => s.versions.find((v) => v.stages.includes(stage));

  function addVersion(s: Secret, value: string, token: string, stages?: string[]): Version {
    const existing = s.versions.find((v) => v.id === token);
    if (existing) {
      if (existing.value !== value) {
        throw new AwsError('ResourceExistsException', `You can't use ClientRequestToken ${token} because that value is already in use for a version of secret ${s.arn}.`);
      }
      return existing;
    }
    const labels = stages ?? ['AWSCURRENT'];
    const v: Version = { id: token, value, stages: [], created: now() };
    for (const label of labels) moveLabel(s, label, v);
    s.versions.push(v);
    s.changed = now();
    if (s.versions.length > 100) s.versions = s.versions.filter((x, i) => x.stages.length > 0 || i >= s.versions.length - 100);
    return v;
  }

  function moveLabel(s: Secret, label: string, to: Version | undefined) {
    const from = byStage(s, label);
    if (from) from.stages = from.stages.filter((x) => x !== label);
    if (label === 'AWSCURRENT' && from && to && from !== to) {
      const prev = byStage(s, 'AWSPREVIOUS');
      if (prev) prev.stages = prev.stages.filter((x) => x !== 'AWSPREVIOUS');
      from.stages.push('AWSPREVIOUS');
    }
    if (to && !to.stages.includes(label)) to.stages.push(label);
  }

  const valueOut = (s: Secret, v: Version) => ({ ARN: s.arn, Name: s.name, VersionId: v.id, SecretString: v.value, VersionStages: [...v.stages], CreatedDate: v.created });
  const stagesMap = (s: Secret) => Object.fromEntries(s.versions.filter((v) => v.stages.length).map((v) => [v.id, [...v.stages]]));

  function getValue(input: { SecretId?: string; VersionId?: string; VersionStage?: string }) {
    const s = find(input.SecretId);
    let v: Version | undefined;
    if (input.VersionId) {
      v = s.versions.find((x) => x.id === input.VersionId);
      if (!v) throw new AwsError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for VersionId: ${input.VersionId}`);
      if (input.VersionStage && !v.stages.includes(input.VersionStage)) {
        throw new AwsError('InvalidRequestException', 'You provided a VersionStage that is not associated to the provided VersionId.');
      }
    } else {
      const stage = input.VersionStage ?? 'AWSCURRENT';
      v = byStage(s, stage);
      if (!v) throw new AwsError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for staging label: ${stage}`);
    }
    return valueOut(s, v);
  }

  function matches(s: Secret, filters: { Key: string; Values: string[] }[] = []) {
    return filters.every((f) => f.Values.some((val) => {
      const neg = val.startsWith('!');
      const v = neg ? val.slice(1) : val;
      const hit = f.Key === 'name' ? s.name.startsWith(v)
        : f.Key === 'tag-key' ? s.tags.some((t) => t.Key.startsWith(v))
        : f.Key === 'tag-value' ? s.tags.some((t) => t.Value.startsWith(v))
        : f.Key === 'description' ? (s.description ?? '').toLowerCase().startsWith(v.toLowerCase())
        : f.Key === 'all' ? [s.name, s.description ?? '', ...s.tags.flatMap((t) => [t.Key, t.Value])].some((x) => x.toLowerCase().includes(v.toLowerCase()))
        : false;
      return neg ? !hit : hit;
    }));
  }

  const listEntry = (s: Secret) => ({
    ARN: s.arn, Name: s.name, CreatedDate: s.created, LastChangedDate: s.changed, SecretVersionsToStages: stagesMap(s),
    ...(s.description ? { Description: s.description } : {}), ...(s.tags.length ? { Tags: s.tags } : {}), ...(s.deleted ? { DeletedDate: s.deleted } : {}),
  });

  function paginate<T>(items: T[], max: number | undefined, token: string | undefined, cap = 100) {
    const start = token ? Number(Buffer.from(token, 'base64').toString()) : 0;
    if (Number.isNaN(start)) throw new AwsError('InvalidNextTokenException', 'The NextToken value is invalid.');
    const size = Math.min(max ?? cap, cap);
    const page = items.slice(start, start + size);
    const next = start + size < items.length ? Buffer.from(String(start + size)).toString('base64') : undefined;
    return { page, next };
  }

  const ops: Record<string, (i: any) => unknown> = {
    CreateSecret(i) {
      if (!i.Name || !/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(i.Name)) throw new AwsError('InvalidParameterException', 'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!');
      const old = secrets.get(i.Name);
      if (old?.deleted) throw new AwsError('InvalidRequestException', "You can't create this secret because a secret with this name is already scheduled for deletion.");
      if (old) {
        if (i.ClientRequestToken && old.versions.some((v) => v.id === i.ClientRequestToken && v.value === i.SecretString)) return { ARN: old.arn, Name: old.name, VersionId: i.ClientRequestToken };
        throw new AwsError('ResourceExistsException', `The operation failed because the secret ${i.Name} already exists.`);
      }
      const s: Secret = { name: i.Name, arn: `arn:aws:secretsmanager:${region}:${accountId}:secret:${i.Name}-${randomBytes(4).toString('base64url').slice(0, 6)}`, created: now(), changed: now(), versions: [], tags: i.Tags ?? [], description: i.Description };
      secrets.set(i.Name, s);
      if (i.SecretString === undefined) return { ARN: s.arn, Name: s.name };
      const v = addVersion(s, i.SecretString, i.ClientRequestToken ?? randomUUID());
      return { ARN: s.arn, Name: s.name, VersionId: v.id };
    },
    DescribeSecret(i) {
      const s = find(i.SecretId, true);
      return {
        ARN: s.arn, Name: s.name, CreatedDate: s.created, LastChangedDate: s.changed, VersionIdsToStages: stagesMap(s),
        ...(s.description ? { Description: s.description } : {}), ...(s.tags.length ? { Tags: s.tags } : {}), ...(s.deleted ? { DeletedDate: s.deleted } : {}),
      };
    },
    GetSecretValue: (i) => getValue(i),
    BatchGetSecretValue(i) {
      if ((i.SecretIdList && i.Filters) || (!i.SecretIdList && !i.Filters)) throw new AwsError('InvalidParameterException', 'Either SecretIdList or Filters must be provided, but not both.');
      if (i.SecretIdList && i.MaxResults !== undefined) throw new AwsError('InvalidParameterException', 'MaxResults is only valid with Filters.');
      if (i.SecretIdList && (i.SecretIdList.length < 1 || i.SecretIdList.length > 20)) throw new AwsError('InvalidParameterException', 'SecretIdList must contain between 1 and 20 secret ids.');
      const SecretValues: unknown[] = [];
      const Errors: unknown[] = [];
      if (i.SecretIdList) {
        for (const id of i.SecretIdList as string[]) {
          try {
            SecretValues.push(getValue({ SecretId: id }));
          } catch (e) {
            const err = e as AwsError;
            Errors.push({ SecretId: id, ErrorCode: err.code, Message: err.message });
          }
        }
        return { SecretValues, Errors };
      }
      const all = [...secrets.values()].filter((s) => !s.deleted && matches(s, i.Filters)).sort((a, b) => a.name.localeCompare(b.name));
      const { page, next } = paginate(all, i.MaxResults, i.NextToken, 20);
      for (const s of page) {
        const v = byStage(s, 'AWSCURRENT');
        if (v) SecretValues.push(valueOut(s, v));
      }
      return { SecretValues, Errors, ...(next ? { NextToken: next } : {}) };
    },
    PutSecretValue(i) {
      const s = find(i.SecretId);
      if (!i.ClientRequestToken) throw new AwsError('InvalidRequestException', 'You must provide a ClientRequestToken value. We recommend a UUID-type value.');
      if (i.SecretString === undefined && i.SecretBinary === undefined) throw new AwsError('InvalidRequestException', 'You must provide either SecretString or SecretBinary.');
      const v = addVersion(s, i.SecretString ?? i.SecretBinary, i.ClientRequestToken, i.VersionStages);
      return { ARN: s.arn, Name: s.name, VersionId: v.id, VersionStages: [...v.stages] };
    },
    ListSecretVersionIds(i) {
      const s = find(i.SecretId, true);
      const versions = s.versions.filter((v) => i.IncludeDeprecated || v.stages.length).map((v) => ({
        VersionId: v.id, ...(v.stages.length ? { VersionStages: [...v.stages] } : {}), CreatedDate: v.created, KmsKeyIds: ['DefaultEncryptionKey'],
      }));
      const { page, next } = paginate(versions, i.MaxResults, i.NextToken);
      return { Versions: page, ARN: s.arn, Name: s.name, ...(next ? { NextToken: next } : {}) };
    },
    UpdateSecretVersionStage(i) {
      const s = find(i.SecretId);
      const label = String(i.VersionStage);
      const current = byStage(s, label);
      if (i.MoveToVersionId) {
        const to = s.versions.find((v) => v.id === i.MoveToVersionId);
        if (!to) throw new AwsError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for VersionId: ${i.MoveToVersionId}`);
        if (current && current !== to && current.id !== i.RemoveFromVersionId) {
          throw new AwsError('InvalidParameterException', `The parameter RemoveFromVersionId can't be empty. Staging label ${label} is currently attached to version ${current.id}, so you must explicitly reference that version in RemoveFromVersionId.`);
        }
        moveLabel(s, label, to);
      } else if (i.RemoveFromVersionId) {
        if (!current || current.id !== i.RemoveFromVersionId) throw new AwsError('InvalidParameterException', `Staging label ${label} is not attached to version ${i.RemoveFromVersionId}.`);
        current.stages = current.stages.filter((x) => x !== label);
      }
      s.changed = now();
      return { ARN: s.arn, Name: s.name };
    },
    ListSecrets(i) {
      const all = [...secrets.values()].filter((s) => (i.IncludePlannedDeletion || !s.deleted) && matches(s, i.Filters)).sort((a, b) => (i.SortOrder === 'desc' ? -1 : 1) * (a.created - b.created || a.name.localeCompare(b.name)));
      const { page, next } = paginate(all, i.MaxResults, i.NextToken);
      return { SecretList: page.map(listEntry), ...(next ? { NextToken: next } : {}) };
    },
    TagResource(i) {
      const s = find(i.SecretId);
      for (const t of i.Tags ?? []) {
        s.tags = s.tags.filter((x) => x.Key !== t.Key);
        s.tags.push(t);
      }
      return {};
    },
    UntagResource(i) {
      const s = find(i.SecretId);
      s.tags = s.tags.filter((t) => !(i.TagKeys ?? []).includes(t.Key));
      return {};
    },
    DeleteSecret(i) {
      const s = find(i.SecretId, true);
      if (i.ForceDeleteWithoutRecovery) {
        secrets.delete(s.name);
        return { ARN: s.arn, Name: s.name, DeletionDate: now() };
      }
      const days = i.RecoveryWindowInDays ?? 30;
      s.deleted = now() + days * 86400;
      return { ARN: s.arn, Name: s.name, DeletionDate: s.deleted };
    },
  };

  return {
    ops,
    /** Setup-time access for the twin (not an AWS API). */
    create: (name: string, value: string) => ops.CreateSecret!({ Name: name, SecretString: value, ClientRequestToken: randomUUID() }),
    put: (name: string, value: string) => ops.PutSecretValue!({ SecretId: name, SecretString: value, ClientRequestToken: randomUUID() }),
    current: (name: string) => {
      const s = secrets.get(name);
      return s ? byStage(s, 'AWSCURRENT')?.value : undefined;
    },
    versions: (name: string) => secrets.get(name)?.versions.map((v) => ({ id: v.id, stages: [...v.stages] })) ?? [],
  };
}
export type SecretStore = ReturnType<typeof createSecretsManager>;
