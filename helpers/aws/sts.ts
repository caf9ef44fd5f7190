/** Who the runbook runs as (STS GetCallerIdentity): the account fix mode compares with the configuration. */
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { withRetry } from '../retry.ts';

export async function callerIdentity(region: string) {
  const r = await withRetry('GetCallerIdentity', () =>
    new STSClient({ region, maxAttempts: 4 }).send(new GetCallerIdentityCommand({})),
  );
  return { account: r.Account!, arn: r.Arn! };
}

/** Before any write: refuse unless the account and region are the ones the configuration expects. */
export async function assertWritable(config: {
  AWS_REGION: string;
  EXPECTED_AWS_ACCOUNT_ID?: string | undefined;
  EXPECTED_AWS_REGION?: string | undefined;
}): Promise<void> {
  const id = await callerIdentity(config.AWS_REGION);
  if (id.account !== config.EXPECTED_AWS_ACCOUNT_ID) {
    const expected = config.EXPECTED_AWS_ACCOUNT_ID ?? 'no account (EXPECTED_AWS_ACCOUNT_ID is not set)';
    throw new Error(`refusing to write: AWS account is ${id.account}, the configuration expects ${expected}`);
  }
  if (config.EXPECTED_AWS_REGION && config.EXPECTED_AWS_REGION !== config.AWS_REGION) {
    const expected = config.EXPECTED_AWS_REGION;
    throw new Error(`refusing to write: AWS region is ${config.AWS_REGION}, the configuration expects ${expected}`);
  }
}
