/**
 * Secrets Manager as the runbook depends on it (aws-facts §3): versions and staging labels
 * (AWSCURRENT / AWSPREVIOUS movement, deprecated versions), ClientRequestToken idempotency, batch
 * reads, list filters and pagination, tags, deletion with and without a recovery window.
 *
 * DeleteSecret with ForceDeleteWithoutRecovery completes asynchronously, as on AWS: for
 * `forceDeleteDelayMs` the secret stays marked for deletion (reads refused, CreateSecret of the name
 * refused with "…already scheduled for deletion."), then it is gone and the name is free.
 *
 * Secret values never appear in an error message: errors name secrets, ARNs and version ids only.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { AwsError, epochSeconds, validationError } from './protocol.ts';

interface Version {
  id: string;
  kind: 'string' | 'binary';
  value: string;
  stages: string[];
  created: number;
}
interface Tag {
  Key: string;
  Value: string;
}
interface Secret {
  name: string;
  arn: string;
  created: number;
  changed: number;
  accessed?: number;
  versions: Version[];
  tags: Tag[];
  description?: string;
  /** Set while the secret is scheduled for deletion (ms). */
  deletionDate?: number;
  /** A forced deletion in progress: the secret is gone from this time on (ms). */
  purgeAt?: number;
}

const NAME_RE = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const MAX_VALUE_BYTES = 65_536;
const DAY_MS = 86_400_000;
const ARN_SUFFIX_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** How long a forced deletion keeps the name taken, by default (AWS: "appropriate back off and retry"). */
export const DEFAULT_FORCE_DELETE_DELAY_MS = 1000;

const secretNotFound = () =>
  new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
const markedForDeletion = () =>
  new AwsError(
    'InvalidRequestException',
    "You can't perform this operation on the secret because it was marked for deletion.",
  );
const invalidParam = (message: string) => new AwsError('InvalidParameterException', message);

type Input = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strList = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.map(String) : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

interface Filter {
  Key: string;
  Values: string[];
}

export interface SecretStoreOptions {
  /** Clock for dates (ms); tests may pass a fixed clock. */
  now?: () => number;
  /** How long a ForceDeleteWithoutRecovery keeps the name taken (ms; 0 = at once). */
  forceDeleteDelayMs?: number;
}

/** The state every operation works on. */
interface Store {
  accountId: string;
  region: string;
  clock: () => number;
  secrets: Map<string, Secret>;
  forceDeleteDelayMs: number;
}

const arnSuffix = () => Array.from({ length: 6 }, () => ARN_SUFFIX_CHARS[randomInt(ARN_SUFFIX_CHARS.length)]).join('');

/** Forced deletions whose time has come are complete: the secret is gone, its name free. */
function purgeDeleted(st: Store) {
  const now = st.clock();
  for (const [name, s] of st.secrets) if (s.purgeAt !== undefined && s.purgeAt <= now) st.secrets.delete(name);
}

/** By name, full ARN, or partial ARN (the ARN without its 6-character suffix). */
function lookup(st: Store, id: unknown): Secret | undefined {
  const key = str(id);
  if (!key) return undefined;
  const byName = st.secrets.get(key);
  if (byName) return byName;
  if (!key.startsWith('arn:')) return undefined;
  for (const s of st.secrets.values()) {
    if (s.arn === key) return s;
    if (s.arn.length === key.length + 7 && s.arn.startsWith(`${key}-`)) return s;
  }
  return undefined;
}
function find(st: Store, id: unknown, o: { allowDeleted?: boolean } = {}): Secret {
  const raw = str(id);
  if (!raw) throw validationError('secretId', 'null', 'Member must not be null');
  const s = lookup(st, raw);
  if (!s) throw secretNotFound();
  if (s.deletionDate !== undefined && !o.allowDeleted) throw markedForDeletion();
  return s;
}

const byStage = (s: Secret, stage: string) => s.versions.find((v) => v.stages.includes(stage));
const byId = (s: Secret, id: string) => s.versions.find((v) => v.id === id);

function secretValueOf(i: Input): { kind: 'string' | 'binary'; value: string } | undefined {
  const ss = str(i.SecretString);
  const sb = str(i.SecretBinary);
  if (ss !== undefined && sb !== undefined)
    throw invalidParam("You can't specify both a binary secret value and a string secret value in the same secret.");
  const v =
    ss !== undefined
      ? { kind: 'string' as const, value: ss }
      : sb !== undefined
        ? { kind: 'binary' as const, value: sb }
        : undefined;
  if (v) {
    const bytes = v.kind === 'string' ? Buffer.byteLength(v.value) : Buffer.from(v.value, 'base64').length;
    if (bytes > MAX_VALUE_BYTES) {
      throw validationError(
        v.kind === 'string' ? 'secretString' : 'secretBinary',
        "'***'",
        `Member must have length less than or equal to ${MAX_VALUE_BYTES}`,
      );
    }
  }
  return v;
}

function checkToken(token: string) {
  if (token.length < 32 || token.length > 64) {
    throw validationError(
      'clientRequestToken',
      `'${token}'`,
      `Member must have length ${token.length < 32 ? 'greater than or equal to 32' : 'less than or equal to 64'}`,
    );
  }
}

/**
 * Moves `label` onto `to` (or just removes it when `to` is undefined). Moving AWSCURRENT away
 * from a version gives that version AWSPREVIOUS (taken from whichever version had it).
 */
function moveLabel(s: Secret, label: string, to: Version | undefined) {
  const from = byStage(s, label);
  if (from === to) return;
  if (from) from.stages = from.stages.filter((x) => x !== label);
  if (label === 'AWSCURRENT' && from && to) {
    const prev = byStage(s, 'AWSPREVIOUS');
    if (prev) prev.stages = prev.stages.filter((x) => x !== 'AWSPREVIOUS');
    from.stages.push('AWSPREVIOUS');
  }
  if (to && !to.stages.includes(label)) to.stages.push(label);
}

function validateStages(stages: string[] | undefined) {
  if (stages === undefined) return;
  if (stages.length < 1 || stages.length > 20)
    throw validationError('versionStages', `'[${stages.join(', ')}]'`, 'Member must have length between 1 and 20');
  for (const st of stages)
    if (st.length < 1 || st.length > 256)
      throw validationError('versionStages', `'${st}'`, 'Member must have length between 1 and 256');
}

/** A new version under `token`, or the existing one when the token was used with the same value. */
function addVersion(
  st: Store,
  s: Secret,
  value: { kind: 'string' | 'binary'; value: string },
  token: string,
  stages?: string[],
): Version {
  const existing = byId(s, token);
  if (existing) {
    if (existing.kind !== value.kind || existing.value !== value.value) {
      throw new AwsError(
        'ResourceExistsException',
        `You can't use ClientRequestToken ${token} because that value is already in use ` +
          `for a version of secret ${s.arn}.`,
      );
    }
    return existing;
  }
  const labels = [...new Set(stages ?? ['AWSCURRENT'])];
  if (s.versions.length === 0 && !labels.includes('AWSCURRENT')) labels.push('AWSCURRENT');
  const t = st.clock();
  const v: Version = { id: token, kind: value.kind, value: value.value, stages: [], created: t };
  s.versions.push(v);
  // AWSCURRENT first, so AWSPREVIOUS lands before any other label is re-attached.
  labels.sort((a, b) => (a === 'AWSCURRENT' ? -1 : b === 'AWSCURRENT' ? 1 : 0));
  for (const label of labels) moveLabel(s, label, v);
  s.changed = t;
  // Secrets Manager keeps the 100 most recent versions plus every version younger than 24 h.
  if (s.versions.length > 100) {
    const keepFrom = s.versions.length - 100;
    s.versions = s.versions.filter((x, idx) => idx >= keepFrom || x.stages.length > 0 || t - x.created < DAY_MS);
  }
  return v;
}

export const valueOut = (s: Secret, v: Version) => ({
  ARN: s.arn,
  Name: s.name,
  VersionId: v.id,
  ...(v.kind === 'string' ? { SecretString: v.value } : { SecretBinary: v.value }),
  VersionStages: [...v.stages],
  CreatedDate: epochSeconds(v.created),
});
const stagesMap = (s: Secret) =>
  Object.fromEntries(s.versions.filter((v) => v.stages.length).map((v) => [v.id, [...v.stages]]));
const metaOut = (s: Secret) => ({
  ARN: s.arn,
  Name: s.name,
  ...(s.description !== undefined ? { Description: s.description } : {}),
  LastChangedDate: epochSeconds(s.changed),
  ...(s.accessed !== undefined ? { LastAccessedDate: epochSeconds(s.accessed) } : {}),
  ...(s.deletionDate !== undefined ? { DeletedDate: epochSeconds(s.deletionDate) } : {}),
  ...(s.tags.length ? { Tags: s.tags.map((t) => ({ ...t })) } : {}),
  CreatedDate: epochSeconds(s.created),
});

function getValue(st: Store, i: Input) {
  const s = find(st, i.SecretId);
  const versionId = str(i.VersionId);
  const versionStage = str(i.VersionStage);
  let v: Version | undefined;
  if (versionId) {
    v = byId(s, versionId);
    if (!v)
      throw new AwsError(
        'ResourceNotFoundException',
        `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`,
      );
    if (versionStage && !v.stages.includes(versionStage)) {
      throw new AwsError(
        'InvalidRequestException',
        'You provided a VersionStage that is not associated to the provided VersionId.',
      );
    }
  } else {
    const stage = versionStage ?? 'AWSCURRENT';
    v = byStage(s, stage);
    if (!v)
      throw new AwsError(
        'ResourceNotFoundException',
        `Secrets Manager can't find the specified secret value for staging label: ${stage}`,
      );
  }
  s.accessed = Math.floor(st.clock() / DAY_MS) * DAY_MS; // AWS records the access date, not the time
  return valueOut(s, v);
}

const FILTER_KEYS = new Set(['description', 'name', 'tag-key', 'tag-value', 'primary-region', 'owning-service', 'all']);
function parseFilters(raw: unknown): Filter[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw invalidParam('Invalid filter.');
  if (raw.length > 10) throw validationError('filters', '[…]', 'Member must have length less than or equal to 10');
  return raw.map((f: { Key?: unknown; Values?: unknown }) => {
    const key = str(f.Key);
    if (!key || !FILTER_KEYS.has(key)) {
      throw validationError(
        'filters.1.member.key',
        `'${String(f.Key)}'`,
        `Member must satisfy enum value set: [${[...FILTER_KEYS].join(', ')}]`,
      );
    }
    const values = strList(f.Values) ?? [];
    if (values.length < 1 || values.length > 10) throw invalidParam(`Invalid number of values for the filter ${key}.`);
    return { Key: key, Values: values };
  });
}
/** Filters AND together, values OR; `!` negates; name/tag prefix case-sensitive, description/all case-insensitive. */
function matches(region: string, s: Secret, filters: Filter[]) {
  return filters.every((f) => {
    const positives = f.Values.filter((v) => !v.startsWith('!'));
    const negatives = f.Values.filter((v) => v.startsWith('!')).map((v) => v.slice(1));
    const hit = (val: string) => {
      switch (f.Key) {
        case 'name':
          return s.name.startsWith(val);
        case 'tag-key':
          return s.tags.some((t) => t.Key.startsWith(val));
        case 'tag-value':
          return s.tags.some((t) => t.Value.startsWith(val));
        case 'description':
          return (s.description ?? '').toLowerCase().startsWith(val.toLowerCase());
        case 'primary-region':
          return region.startsWith(val);
        case 'owning-service':
          return false;
        case 'all': {
          const words = [s.name, s.description ?? '', ...s.tags.flatMap((t) => [t.Key, t.Value])]
            .flatMap((x) => x.toLowerCase().split(/[^a-z0-9]+/i))
            .filter(Boolean);
          const needle = val.toLowerCase();
          return words.some((w) => w.startsWith(needle)) || s.name.toLowerCase().startsWith(needle);
        }
        default:
          return false;
      }
    };
    const posOk = positives.length === 0 || positives.some(hit);
    const negOk = negatives.every((v) => !hit(v));
    return posOk && negOk;
  });
}

function paginate<T>(items: T[], max: unknown, token: unknown, o: { cap: number; field: string }) {
  const maxN = num(max);
  if (maxN !== undefined && (maxN < 1 || maxN > o.cap || !Number.isInteger(maxN))) {
    throw validationError(
      o.field,
      String(maxN),
      `Member must have value ${maxN < 1 ? 'greater than or equal to 1' : `less than or equal to ${o.cap}`}`,
    );
  }
  let start = 0;
  const t = str(token);
  if (t) {
    const decoded = /^tw1:(\d+)$/.exec(Buffer.from(t, 'base64').toString('utf8'));
    if (!decoded) throw new AwsError('InvalidNextTokenException', 'The NextToken value is invalid.');
    start = Number(decoded[1]);
  }
  const size = maxN ?? o.cap;
  const page = items.slice(start, start + size);
  const next = start + size < items.length ? Buffer.from(`tw1:${start + size}`).toString('base64') : undefined;
  return { page, next };
}

function newSecret(st: Store, name: string, description: string | undefined, tags: Tag[]): Secret {
  const t = st.clock();
  return {
    name,
    arn: `arn:aws:secretsmanager:${st.region}:${st.accountId}:secret:${name}-${arnSuffix()}`,
    created: t,
    changed: t,
    versions: [],
    tags,
    ...(description !== undefined ? { description } : {}),
  };
}

function parseTags(raw: unknown): Tag[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw invalidParam('Invalid tag list.');
  const tags = raw.map((t: { Key?: unknown; Value?: unknown }) => ({
    Key: String(t.Key ?? ''),
    Value: String(t.Value ?? ''),
  }));
  for (const t of tags) {
    if (t.Key.length < 1 || t.Key.length > 128)
      throw validationError('tags.member.key', `'${t.Key}'`, 'Member must have length between 1 and 128');
    if (t.Value.length > 256)
      throw validationError('tags.member.value', "'…'", 'Member must have length less than or equal to 256');
  }
  return tags;
}

// --- operations ------------------------------------------------------------------------------------

function createSecret(st: Store, i: Input) {
  const name = str(i.Name);
  if (!name || !NAME_RE.test(name)) {
    throw invalidParam(
      'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
    );
  }
  const value = secretValueOf(i);
  const token = str(i.ClientRequestToken);
  if (token) checkToken(token);
  const old = st.secrets.get(name);
  if (old?.deletionDate !== undefined) {
    throw new AwsError(
      'InvalidRequestException',
      "You can't create this secret because a secret with this name is already scheduled for deletion.",
    );
  }
  if (old) {
    // A retried CreateSecret (same token, same value) answers as the first call did.
    const same = token && value && byId(old, token);
    if (same && same.kind === value.kind && same.value === value.value)
      return { ARN: old.arn, Name: old.name, VersionId: same.id };
    throw new AwsError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
  }
  const s = newSecret(st, name, str(i.Description), parseTags(i.Tags));
  st.secrets.set(name, s);
  if (!value) return { ARN: s.arn, Name: s.name };
  const v = addVersion(st, s, value, token ?? randomUUID());
  return { ARN: s.arn, Name: s.name, VersionId: v.id };
}

function batchGetSecretValue(st: Store, i: Input) {
  const ids = strList(i.SecretIdList);
  const hasFilters = i.Filters !== undefined;
  if ((ids && hasFilters) || (!ids && !hasFilters))
    throw invalidParam('Either SecretIdList or Filters must be provided, but not both.');
  if (ids && i.MaxResults !== undefined) throw invalidParam('MaxResults is only valid when Filters are provided.');
  const SecretValues: unknown[] = [];
  const Errors: unknown[] = [];
  const tryGet = (id: string) => {
    try {
      SecretValues.push(getValue(st, { SecretId: id }));
    } catch (e) {
      if (!(e instanceof AwsError)) throw e;
      Errors.push({ SecretId: id, ErrorCode: e.code, Message: e.message });
    }
  };
  if (ids) {
    if (ids.length < 1 || ids.length > 20)
      throw validationError('secretIdList', `'[…${ids.length} ids]'`, 'Member must have length between 1 and 20');
    for (const id of ids) tryGet(id);
    return { SecretValues, Errors };
  }
  const filters = parseFilters(i.Filters);
  if (!filters.length) throw invalidParam('Either SecretIdList or Filters must be provided, but not both.');
  const all = [...st.secrets.values()]
    .filter((s) => s.deletionDate === undefined && matches(st.region, s, filters))
    .sort((a, b) => a.name.localeCompare(b.name));
  const { page, next } = paginate(all, i.MaxResults, i.NextToken, { cap: 20, field: 'maxResults' });
  for (const s of page) tryGet(s.name);
  return { SecretValues, Errors, ...(next ? { NextToken: next } : {}) };
}

function putSecretValue(st: Store, i: Input) {
  const s = find(st, i.SecretId);
  const token = str(i.ClientRequestToken);
  if (!token)
    throw new AwsError(
      'InvalidRequestException',
      'You must provide a ClientRequestToken value. We recommend a UUID-type value.',
    );
  checkToken(token);
  const value = secretValueOf(i);
  if (!value) throw new AwsError('InvalidRequestException', 'You must provide either SecretString or SecretBinary.');
  const stages = strList(i.VersionStages);
  validateStages(stages);
  const v = addVersion(st, s, value, token, stages);
  return { ARN: s.arn, Name: s.name, VersionId: v.id, VersionStages: [...v.stages] };
}

function updateSecret(st: Store, i: Input) {
  const s = find(st, i.SecretId);
  const value = secretValueOf(i);
  const description = str(i.Description);
  if (description !== undefined) {
    s.description = description;
    s.changed = st.clock();
  }
  if (!value) return { ARN: s.arn, Name: s.name };
  const token = str(i.ClientRequestToken) ?? randomUUID();
  checkToken(token);
  const v = addVersion(st, s, value, token);
  return { ARN: s.arn, Name: s.name, VersionId: v.id };
}

function listSecretVersionIds(st: Store, i: Input) {
  const s = find(st, i.SecretId, { allowDeleted: true });
  const versions = s.versions
    .filter((v) => i.IncludeDeprecated === true || v.stages.length > 0)
    .map((v) => ({
      VersionId: v.id,
      ...(v.stages.length ? { VersionStages: [...v.stages] } : {}),
      CreatedDate: epochSeconds(v.created),
      KmsKeyIds: ['DefaultEncryptionKey'],
    }));
  const { page, next } = paginate(versions, i.MaxResults, i.NextToken, { cap: 100, field: 'maxResults' });
  return { Versions: page, ARN: s.arn, Name: s.name, ...(next ? { NextToken: next } : {}) };
}

function updateSecretVersionStage(st: Store, i: Input) {
  const s = find(st, i.SecretId);
  const label = str(i.VersionStage);
  if (!label) throw validationError('versionStage', 'null', 'Member must not be null');
  const moveTo = str(i.MoveToVersionId);
  const removeFrom = str(i.RemoveFromVersionId);
  const holder = byStage(s, label);
  if (removeFrom !== undefined) {
    if (!byId(s, removeFrom))
      throw invalidParam(`The parameter RemoveFromVersionId is not valid: version ${removeFrom} does not exist.`);
    if (!holder || holder.id !== removeFrom) {
      throw invalidParam(
        'The parameter RemoveFromVersionId is not valid: ' +
          `staging label ${label} is not attached to version ${removeFrom}.`,
      );
    }
  }
  if (moveTo !== undefined) {
    const to = byId(s, moveTo);
    if (!to) throw invalidParam(`The parameter MoveToVersionId is not valid: version ${moveTo} does not exist.`);
    if (holder && holder !== to && removeFrom === undefined) {
      throw invalidParam(
        "The parameter RemoveFromVersionId can't be empty. " +
          `Staging label ${label} is currently attached to version ${holder.id}, ` +
          'so you must explicitly reference that version in RemoveFromVersionId.',
      );
    }
    moveLabel(s, label, to);
  } else if (removeFrom !== undefined) {
    if (label === 'AWSCURRENT')
      throw invalidParam('You can only remove the staging label AWSCURRENT by moving it to another version.');
    moveLabel(s, label, undefined);
  } else {
    throw invalidParam('You must specify MoveToVersionId or RemoveFromVersionId.');
  }
  s.changed = st.clock();
  return { ARN: s.arn, Name: s.name };
}

function listSecrets(st: Store, i: Input) {
  const filters = parseFilters(i.Filters);
  const desc = i.SortOrder === 'desc';
  const all = [...st.secrets.values()]
    .filter(
      (s) => (i.IncludePlannedDeletion === true || s.deletionDate === undefined) && matches(st.region, s, filters),
    )
    .sort((a, b) => (desc ? -1 : 1) * (a.created - b.created || a.name.localeCompare(b.name)));
  const { page, next } = paginate(all, i.MaxResults, i.NextToken, { cap: 100, field: 'maxResults' });
  return {
    SecretList: page.map((s) => ({ ...metaOut(s), SecretVersionsToStages: stagesMap(s) })),
    ...(next ? { NextToken: next } : {}),
  };
}

/**
 * With ForceDeleteWithoutRecovery the deletion is asynchronous: the secret stays marked for
 * deletion for `forceDeleteDelayMs`, then it is gone. Otherwise it is scheduled (7–30 days).
 */
function deleteSecret(st: Store, i: Input) {
  const s = find(st, i.SecretId, { allowDeleted: true });
  const force = i.ForceDeleteWithoutRecovery === true;
  const window = num(i.RecoveryWindowInDays);
  if (force && window !== undefined) {
    throw invalidParam("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
  }
  const now = st.clock();
  if (force) {
    if (st.forceDeleteDelayMs <= 0) st.secrets.delete(s.name);
    else {
      s.deletionDate = now;
      s.purgeAt ??= now + st.forceDeleteDelayMs;
    }
    return { ARN: s.arn, Name: s.name, DeletionDate: epochSeconds(now) };
  }
  if (window !== undefined && (window < 7 || window > 30)) {
    throw invalidParam('The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
  }
  if (s.deletionDate !== undefined) throw markedForDeletion();
  s.deletionDate = now + (window ?? 30) * DAY_MS;
  return { ARN: s.arn, Name: s.name, DeletionDate: epochSeconds(s.deletionDate) };
}

function restoreSecret(st: Store, i: Input) {
  const s = find(st, i.SecretId, { allowDeleted: true });
  if (s.purgeAt !== undefined) throw markedForDeletion(); // a forced deletion cannot be undone
  delete s.deletionDate;
  return { ARN: s.arn, Name: s.name };
}

function tagOps(st: Store): Record<string, (i: Input) => unknown> {
  return {
    TagResource(i) {
      const s = find(st, i.SecretId);
      for (const t of parseTags(i.Tags)) {
        s.tags = s.tags.filter((x) => x.Key !== t.Key);
        s.tags.push(t);
      }
      s.changed = st.clock();
      return {};
    },
    UntagResource(i) {
      const s = find(st, i.SecretId);
      const keys = strList(i.TagKeys) ?? [];
      s.tags = s.tags.filter((t) => !keys.includes(t.Key));
      s.changed = st.clock();
      return {};
    },
  };
}

/** Every operation by its API name; each sees completed forced deletions first. */
function operations(st: Store): Record<string, (i: Input) => unknown> {
  const table: Record<string, (i: Input) => unknown> = {
    CreateSecret: (i) => createSecret(st, i),
    DescribeSecret: (i) => {
      const s = find(st, i.SecretId, { allowDeleted: true });
      return { ...metaOut(s), VersionIdsToStages: stagesMap(s) };
    },
    GetSecretValue: (i) => getValue(st, i),
    BatchGetSecretValue: (i) => batchGetSecretValue(st, i),
    PutSecretValue: (i) => putSecretValue(st, i),
    UpdateSecret: (i) => updateSecret(st, i),
    ListSecretVersionIds: (i) => listSecretVersionIds(st, i),
    UpdateSecretVersionStage: (i) => updateSecretVersionStage(st, i),
    ListSecrets: (i) => listSecrets(st, i),
    ...tagOps(st),
    DeleteSecret: (i) => deleteSecret(st, i),
    RestoreSecret: (i) => restoreSecret(st, i),
  };
  return Object.fromEntries(
    Object.entries(table).map(([name, fn]) => [
      name,
      (i: Input) => {
        purgeDeleted(st);
        return fn(i);
      },
    ]),
  );
}

export function createSecretsManager(accountId: string, region: string, opts: SecretStoreOptions = {}) {
  const st: Store = {
    accountId,
    region,
    clock: opts.now ?? Date.now,
    secrets: new Map(),
    forceDeleteDelayMs: opts.forceDeleteDelayMs ?? DEFAULT_FORCE_DELETE_DELAY_MS,
  };
  const ops = operations(st);
  const secret = (name: string) => {
    purgeDeleted(st);
    return st.secrets.get(name);
  };
  return {
    ops,
    /** How long a forced deletion keeps the name taken (ms; 0 = at once); settable at run time. */
    get forceDeleteDelayMs() {
      return st.forceDeleteDelayMs;
    },
    set forceDeleteDelayMs(ms: number) {
      st.forceDeleteDelayMs = ms;
    },
    /** Setup-time access for the twin (not an AWS API). Errors never carry the value. */
    create(name: string, value: string, o: { description?: string; tags?: Tag[]; binary?: boolean } = {}) {
      return ops.CreateSecret!({
        Name: name,
        ...(o.binary ? { SecretBinary: value } : { SecretString: value }),
        ClientRequestToken: randomUUID(),
        ...(o.description !== undefined ? { Description: o.description } : {}),
        ...(o.tags ? { Tags: o.tags } : {}),
      }) as { ARN: string; Name: string; VersionId: string };
    },
    /** A new version (AWSCURRENT unless `stages` says otherwise), as PutSecretValue. */
    put(name: string, value: string, o: { stages?: string[]; token?: string } = {}) {
      return ops.PutSecretValue!({
        SecretId: name,
        SecretString: value,
        ClientRequestToken: o.token ?? randomUUID(),
        ...(o.stages ? { VersionStages: o.stages } : {}),
      }) as { ARN: string; Name: string; VersionId: string; VersionStages: string[] };
    },
    /** The AWSCURRENT value (string or base64 binary), or undefined. */
    current(name: string): string | undefined {
      const s = secret(name);
      return s ? byStage(s, 'AWSCURRENT')?.value : undefined;
    },
    /** Every version, oldest first, including deprecated ones. */
    versions(name: string): { id: string; stages: string[]; created: Date }[] {
      return (
        secret(name)?.versions.map((v) => ({ id: v.id, stages: [...v.stages], created: new Date(v.created) })) ?? []
      );
    },
    arn: (name: string): string | undefined => secret(name)?.arn,
    names: (): string[] => {
      purgeDeleted(st);
      return [...st.secrets.keys()];
    },
    scheduledForDeletion: (name: string): boolean => secret(name)?.deletionDate !== undefined,
    /** Removes the secret at once (as ForceDeleteWithoutRecovery). */
    remove: (name: string): boolean => st.secrets.delete(name),
  };
}
export type SecretStore = ReturnType<typeof createSecretsManager>;
