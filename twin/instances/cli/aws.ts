/**
 * `aws` on a twin instance: the AWS CLI commands the bootstrap and the runbook's remote scripts use,
 * through the AWS SDK against AWS_ENDPOINT_URL (the instance role's view of AWS). Output and error
 * text follow the AWS CLI.
 */
import { DescribeSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';

const argv = process.argv.slice(2);
const opt = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  return argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
};
const region = opt('region') ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
const usage = (msg: string) => {
  process.stderr.write(`usage: aws [options] <command> <subcommand> [<subcommand> ...] [parameters]\naws: error: ${msg}\n`);
  process.exit(252);
};
if (!region) {
  process.stderr.write('You must specify a region. You can also configure your region by running "aws configure".\n');
  process.exit(253);
}
const [service, op] = argv.filter((a, i) => !a.startsWith('--') && !(argv[i - 1]?.startsWith('--') && !argv[i - 1]!.includes('=')));
const output = opt('output') ?? 'json';
const query = opt('query');

function print(result: Record<string, unknown>) {
  const value = query ? query.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), result) : result;
  if (output === 'text') process.stdout.write(`${typeof value === 'object' ? Object.values(value as object).join('\t') : String(value)}\n`);
  else process.stdout.write(`${JSON.stringify(value, (k, v) => (k === '$metadata' ? undefined : v), 4)}\n`);
}

try {
  const cfg = { region, maxAttempts: 3 };
  if (service === 'secretsmanager') {
    const sm = new SecretsManagerClient(cfg);
    const id = opt('secret-id') ?? usage('the following arguments are required: --secret-id');
    if (op === 'get-secret-value') {
      const r = await sm.send(new GetSecretValueCommand({ SecretId: id, VersionStage: opt('version-stage'), VersionId: opt('version-id') }));
      print({ ARN: r.ARN, Name: r.Name, VersionId: r.VersionId, SecretString: r.SecretString, VersionStages: r.VersionStages, CreatedDate: r.CreatedDate?.toISOString() });
    } else if (op === 'describe-secret') {
      const r = await sm.send(new DescribeSecretCommand({ SecretId: id }));
      print({ ARN: r.ARN, Name: r.Name, VersionIdsToStages: r.VersionIdsToStages });
    } else if (op === 'put-secret-value') {
      const r = await sm.send(new PutSecretValueCommand({ SecretId: id, SecretString: opt('secret-string'), ClientRequestToken: opt('client-request-token') }));
      print({ ARN: r.ARN, Name: r.Name, VersionId: r.VersionId, VersionStages: r.VersionStages });
    } else usage(`argument operation: Invalid choice: '${op}'`);
  } else if (service === 'sts' && op === 'get-caller-identity') {
    const r = await new STSClient(cfg).send(new GetCallerIdentityCommand({}));
    print({ UserId: r.UserId, Account: r.Account, Arn: r.Arn });
  } else {
    usage(`argument command: Invalid choice: '${service ?? ''}'`);
  }
} catch (e) {
  const err = e as Error & { name: string };
  const opName = (op ?? '').split('-').map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  process.stderr.write(`\nAn error occurred (${err.name}) when calling the ${opName} operation: ${err.message}\n`);
  process.exit(254);
}
