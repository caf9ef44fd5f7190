/** Who the runbook runs as (STS GetCallerIdentity): the account fix mode compares with the configuration. */
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { withRetry } from '../retry.ts';

export async function callerIdentity(region: string) {
  const r = await withRetry('GetCallerIdentity', () =>
    new STSClient({ region, maxAttempts: 4 }).send(new GetCallerIdentityCommand({})),
  );
  return { account: r.Account!, arn: r.Arn! };
}
