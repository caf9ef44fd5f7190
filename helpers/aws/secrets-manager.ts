/**
 * Secrets Manager: the node secrets read in batches of 20 (BatchGetSecretValue), every value
 * registered with the redactor; restores written with a deterministic ClientRequestToken so a re-run
 * after a crash is idempotent; rollback by moving AWSCURRENT back.
 */
import {
  BatchGetSecretValueCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { RawSecret } from '../node-secrets.ts';
import { redactor } from '../redact.ts';
import { withRetry } from '../retry.ts';

export function secretsClient(region: string) {
  return new SecretsManagerClient({ region, maxAttempts: 4, retryMode: 'standard' });
}

/** AWSCURRENT of every named secret, 20 per call; every value is registered with the redactor. */
export async function readSecrets(client: SecretsManagerClient, names: string[]): Promise<Map<string, RawSecret>> {
  const out = new Map<string, RawSecret>();
  const chunks: string[][] = [];
  for (let i = 0; i < names.length; i += 20) chunks.push(names.slice(i, i + 20));
  await Promise.all(
    chunks.map(async (chunk) => {
      const r = await withRetry('BatchGetSecretValue', () =>
        client.send(new BatchGetSecretValueCommand({ SecretIdList: chunk })),
      );
      for (const v of r.SecretValues ?? []) {
        redactor.add(v.SecretString);
        redactor.add(v.SecretString?.trim());
        out.set(v.Name!, { name: v.Name!, value: v.SecretString, versionId: v.VersionId });
      }
      for (const e of r.Errors ?? []) {
        if (e.ErrorCode === 'ResourceNotFoundException')
          out.set(e.SecretId!, { name: e.SecretId!, error: 'the secret does not exist' });
        else throw new Error(`reading ${e.SecretId}: ${e.ErrorCode}: ${e.Message}`);
      }
    }),
  );
  for (const n of names) if (!out.has(n)) out.set(n, { name: n, error: 'not returned by BatchGetSecretValue' });
  return out;
}

export async function putSecret(client: SecretsManagerClient, name: string, value: string, token: string) {
  const r = await withRetry(`PutSecretValue ${name}`, () =>
    client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value, ClientRequestToken: token })),
  );
  return { versionId: r.VersionId! };
}

export async function currentVersionId(client: SecretsManagerClient, name: string): Promise<string | null> {
  try {
    const r = await withRetry(`GetSecretValue ${name}`, () =>
      client.send(new GetSecretValueCommand({ SecretId: name })),
    );
    redactor.add(r.SecretString);
    return r.VersionId ?? null;
  } catch (e) {
    if ((e as Error).name === 'ResourceNotFoundException') return null;
    throw e;
  }
}

/** Move AWSCURRENT back to `toVersionId` (AWSPREVIOUS follows), as the AWS rollback procedure does. */
export async function rollbackSecret(client: SecretsManagerClient, name: string, toVersionId: string) {
  const current = await currentVersionId(client, name);
  if (current === toVersionId) return;
  await withRetry(`UpdateSecretVersionStage ${name}`, () =>
    client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: name,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: toVersionId,
        ...(current ? { RemoveFromVersionId: current } : {}),
      }),
    ),
  );
}

/** The VersionId that holds AWSCURRENT, read without the value (DescribeSecret); null when no such secret. */
export async function awsCurrentVersion(client: SecretsManagerClient, name: string): Promise<string | null> {
  try {
    const r = await withRetry(`DescribeSecret ${name}`, () =>
      client.send(new DescribeSecretCommand({ SecretId: name })),
    );
    const current = Object.entries(r.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes('AWSCURRENT'));
    return current?.[0] ?? null;
  } catch (e) {
    if ((e as Error).name === 'ResourceNotFoundException') return null;
    throw e;
  }
}
