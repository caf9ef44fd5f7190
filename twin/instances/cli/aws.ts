/**
 * `aws` on a twin instance: the AWS CLI v2 commands the bootstrap and the runbook's remote scripts
 * use, through the AWS SDK against AWS_ENDPOINT_URL (or --endpoint-url) with the instance role's
 * credentials from the environment. Output and errors follow the AWS CLI:
 *  - `--output json` (default): 4-space indented JSON, timestamps as ISO 8601 with offset;
 *    `--output text`: scalars raw (`None` for null), lists/objects tab-separated; `--query` supports
 *    the JMESPath subset `A.B`, `A[0]`, `[A, B]`;
 *  - service errors: `\nAn error occurred (Code) when calling the Operation operation: message`, exit 254;
 *  - usage errors exit 252; missing region/credentials exit 253; connection failures exit 255.
 * The region is found as the CLI v2 finds it: --region, AWS_REGION, AWS_DEFAULT_REGION, the
 * profile's `region` in the config file (AWS_CONFIG_FILE or ~/.aws/config), then the instance
 * metadata service (IMDSv2 at AWS_EC2_METADATA_SERVICE_ENDPOINT, unless AWS_EC2_METADATA_DISABLED);
 * without one: `You must specify a region.`, exit 253.
 * Commands: secretsmanager get-secret-value | describe-secret | put-secret-value, sts get-caller-identity.
 */
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { regionFromConfig, regionFromImds } from './aws-region.ts';
import { writeAll } from './write-all.ts';

const USAGE = `usage: aws [options] <command> <subcommand> [<subcommand> ...] [parameters]
To see help text, you can run:

  aws help
  aws <command> help
  aws <command> <subcommand> help
`;
const BOOLEAN_FLAGS = new Set([
  '--no-cli-pager',
  '--debug',
  '--no-verify-ssl',
  '--no-paginate',
  '--no-sign-request',
  '--cli-auto-prompt',
  '--no-cli-auto-prompt',
]);
const GLOBAL_OPTS = new Set([
  'region',
  'output',
  'query',
  'endpoint-url',
  'profile',
  'cli-read-timeout',
  'cli-connect-timeout',
  'color',
  'cli-binary-format',
]);

function die(code: number, text: string): never {
  writeAll(2, text);
  process.exit(code);
}

// --- argv: positionals and --name value / --name=value options -----------------------------------
const argv = process.argv.slice(2);
const positionals: string[] = [];
const opts = new Map<string, string>();
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (a.startsWith('--')) {
    if (BOOLEAN_FLAGS.has(a)) continue;
    const eq = a.indexOf('=');
    if (eq > 0) opts.set(a.slice(2, eq), a.slice(eq + 1));
    else {
      const v = argv[i + 1];
      if (v === undefined) die(252, `${USAGE}\naws: error: argument ${a}: expected one argument\n`);
      opts.set(a.slice(2), v);
      i++;
    }
  } else positionals.push(a);
}
if (positionals[0] === '--version' || argv[0] === '--version') {
  writeAll(1, 'aws-cli/2.22.35 Python/3.12.6 Linux/6.1 exe/x86_64.amzn.2023\n');
  process.exit(0);
}
const [service, op, ...extra] = positionals;
if (!service) die(252, `${USAGE}\naws: error: the following arguments are required: command\n`);
if (!op) die(252, `${USAGE}\naws: error: the following arguments are required: operation\n`);
if (extra.length) die(252, `${USAGE}\nUnknown options: ${extra.join(', ')}\n`);

const output = opts.get('output') ?? process.env.AWS_DEFAULT_OUTPUT ?? 'json';
if (!['json', 'text', 'table', 'yaml', 'yaml-stream'].includes(output)) {
  die(
    252,
    `${USAGE}\naws: error: argument --output: Invalid choice, valid choices are:\n\n` +
      `${'json'.padEnd(41)}| text\n${'table'.padEnd(41)}| yaml\nyaml-stream\n`,
  );
}
const query = opts.get('query');
const profile = opts.get('profile') ?? process.env.AWS_PROFILE ?? process.env.AWS_DEFAULT_PROFILE;
const configured = regionFromConfig(process.env, profile);
if (configured.missingProfile) die(255, `\nThe config profile (${configured.missingProfile}) could not be found\n`);
const region =
  opts.get('region') ??
  process.env.AWS_REGION ??
  process.env.AWS_DEFAULT_REGION ??
  configured.region ??
  (await regionFromImds(process.env));
// The SDK below gets the region and the credentials explicitly: it must never look for IMDS itself.
process.env.AWS_EC2_METADATA_DISABLED = 'true';
const endpoint = opts.get('endpoint-url') ?? process.env.AWS_ENDPOINT_URL;

const OPERATIONS: Record<string, Record<string, { params: string[]; required: string[] }>> = {
  secretsmanager: {
    'get-secret-value': { params: ['secret-id', 'version-id', 'version-stage'], required: ['secret-id'] },
    'describe-secret': { params: ['secret-id'], required: ['secret-id'] },
    'put-secret-value': {
      params: ['secret-id', 'secret-string', 'client-request-token', 'version-stages'],
      required: ['secret-id'],
    },
  },
  sts: { 'get-caller-identity': { params: [], required: [] } },
};
const svc = OPERATIONS[service];
if (!svc)
  die(
    252,
    `${USAGE}\naws: error: argument command: Invalid choice, valid choices are:\n\n` +
      `${Object.keys(OPERATIONS).join(' | ')}\n`,
  );
const spec = svc[op];
if (!spec)
  die(
    252,
    `${USAGE}\naws: error: argument operation: Invalid choice, valid choices are:\n\n${Object.keys(svc).join(' | ')}\n`,
  );
const unknown = [...opts.keys()].filter((k) => !GLOBAL_OPTS.has(k) && !spec.params.includes(k));
if (unknown.length) die(252, `${USAGE}\nUnknown options: ${unknown.map((k) => `--${k}`).join(', ')}\n`);
const missing = spec.required.filter((k) => !opts.has(k));
if (missing.length)
  die(252, `${USAGE}\naws: error: the following arguments are required: ${missing.map((k) => `--${k}`).join(', ')}\n`);
if (!region) die(253, '\nYou must specify a region. You can also configure your region by running "aws configure".\n');
if (!process.env.AWS_ACCESS_KEY_ID || !process.env.AWS_SECRET_ACCESS_KEY) {
  die(253, '\nUnable to locate credentials. You can configure credentials by running "aws configure".\n');
}

// --- output ------------------------------------------------------------------------------------
/** Python's datetime.isoformat() of a UTC timestamp, as the CLI prints it. */
function isoPython(d: Date): string {
  const ms = d.getUTCMilliseconds();
  return `${d.toISOString().slice(0, 19)}${ms ? `.${String(ms).padStart(3, '0')}000` : ''}+00:00`;
}
function plain(v: unknown): unknown {
  if (v instanceof Date) return isoPython(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k, x]) => k !== '$metadata' && x !== undefined)
        .map(([k, x]) => [k, plain(x)]),
    );
  }
  return v;
}
/** JMESPath subset: `A.B`, `A[0]`, `[A, B]` multiselect. */
function jmes(expr: string, data: unknown): unknown {
  const e = expr.trim();
  if (e.startsWith('[') && e.endsWith(']') && !/^\[\d+\]$/.test(e))
    return e
      .slice(1, -1)
      .split(',')
      .map((x) => jmes(x, data));
  let cur = data;
  for (const part of e.split('.')) {
    const m = /^([A-Za-z_][\w-]*)?((?:\[-?\d+\])*)$/.exec(part);
    if (!m) die(255, `\nBad value for --query ${expr}: invalid token: Parse error at column 0, token "${part}"\n`);
    if (m[1])
      cur =
        cur && typeof cur === 'object' && !Array.isArray(cur) ? ((cur as Record<string, unknown>)[m[1]] ?? null) : null;
    for (const idx of m[2]!.matchAll(/\[(-?\d+)\]/g))
      cur = Array.isArray(cur) ? (cur.at(Number(idx[1])) ?? null) : null;
  }
  return cur;
}
function text(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (Array.isArray(v))
    return v.map((x) => (x && typeof x === 'object' ? text(x) : x === null ? 'None' : String(x))).join('\t');
  if (typeof v === 'object')
    return Object.values(v)
      .map((x) => (x && typeof x === 'object' ? '' : text(x)))
      .filter((x) => x !== '')
      .join('\t');
  return String(v);
}
function print(result: unknown) {
  const value = query ? jmes(query, plain(result)) : plain(result);
  if (output === 'text') writeAll(1, `${text(value)}\n`);
  else writeAll(1, `${JSON.stringify(value, null, 4)}\n`);
}

// --- calls --------------------------------------------------------------------------------------
const cfg = { region, maxAttempts: 3, ...(endpoint ? { endpoint } : {}) };
const opName = op
  .split('-')
  .map((w) => w[0]!.toUpperCase() + w.slice(1))
  .join('');
try {
  if (service === 'secretsmanager') {
    const sm = new SecretsManagerClient(cfg);
    const id = opts.get('secret-id')!;
    if (op === 'get-secret-value') {
      const r = await sm.send(
        new GetSecretValueCommand({
          SecretId: id,
          VersionStage: opts.get('version-stage'),
          VersionId: opts.get('version-id'),
        }),
      );
      print({
        ARN: r.ARN,
        Name: r.Name,
        VersionId: r.VersionId,
        SecretString: r.SecretString,
        VersionStages: r.VersionStages,
        CreatedDate: r.CreatedDate,
      });
    } else if (op === 'describe-secret') {
      print(await sm.send(new DescribeSecretCommand({ SecretId: id })));
    } else {
      const stages = opts.get('version-stages');
      const r = await sm.send(
        new PutSecretValueCommand({
          SecretId: id,
          SecretString: opts.get('secret-string'),
          ClientRequestToken: opts.get('client-request-token'),
          ...(stages ? { VersionStages: stages.split(/[\s,]+/).filter(Boolean) } : {}),
        }),
      );
      print({ ARN: r.ARN, Name: r.Name, VersionId: r.VersionId, VersionStages: r.VersionStages });
    }
  } else {
    const r = await new STSClient(cfg).send(new GetCallerIdentityCommand({}));
    print({ UserId: r.UserId, Account: r.Account, Arn: r.Arn });
  }
} catch (e) {
  const err = e as Error & {
    name: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
    cause?: { code?: string };
  };
  const code = err.code ?? err.cause?.code;
  if (
    !err.$metadata?.httpStatusCode &&
    (code === 'ECONNREFUSED' ||
      code === 'ENOTFOUND' ||
      code === 'ECONNRESET' ||
      /ECONNREFUSED|fetch failed|socket hang up/.test(err.message))
  ) {
    die(
      255,
      `\nCould not connect to the endpoint URL: "${endpoint ?? `https://${service}.${region}.amazonaws.com/`}"\n`,
    );
  }
  die(254, `\nAn error occurred (${err.name}) when calling the ${opName} operation: ${err.message}\n`);
}
process.exit(0);
