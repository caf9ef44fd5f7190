/** CloudFormation DescribeStacks (aws-facts §5.1) with outputs named the way CDK names them (§5.2). */
import { createHash } from 'node:crypto';
import { AwsError } from './protocol.ts';

export interface StackOutput {
  key: string;
  value: string;
  description?: string;
  exportName?: string;
}
export interface StackDefinition {
  stackName: string;
  outputs: StackOutput[];
  /** Default CREATE_COMPLETE. */
  status?: string;
}

const HIDDEN_ID = 'Default';
const HIDDEN_FROM_HUMAN_ID = 'Resource';
const MAX_HUMAN_LEN = 240;
const removeNonAlphanumeric = (s: string) => s.replace(/[^A-Za-z0-9]/g, '');

/**
 * The CDK logical id of a construct path below the stack (aws-cdk `makeUniqueId`): `Default`
 * components removed; a single component → that id without non-alphanumerics (no hash);
 * otherwise human part (consecutive duplicates dropped, `Resource` dropped) + the first 8 hex
 * digits, upper-cased, of md5(path joined by "/").
 */
export function cdkOutputKey(path: string[]): string {
  const components = path.filter((c) => c !== HIDDEN_ID);
  if (components.length === 0) throw new Error('cdkOutputKey: empty path');
  if (components.length === 1) {
    const top = removeNonAlphanumeric(components[0]!);
    if (top.length <= MAX_HUMAN_LEN) return top;
  }
  const hash = createHash('md5').update(components.join('/')).digest('hex').slice(0, 8).toUpperCase();
  const deduped: string[] = [];
  for (const c of components) {
    if (deduped.length === 0 || !deduped[deduped.length - 1]!.endsWith(c)) deduped.push(c);
  }
  const human = deduped
    .filter((c) => c !== HIDDEN_FROM_HUMAN_ID)
    .map(removeNonAlphanumeric)
    .join('')
    .slice(0, MAX_HUMAN_LEN);
  return human + hash;
}

function uuidFrom(text: string): string {
  return createHash('md5')
    .update(text)
    .digest('hex')
    .replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5');
}

/** `stacks` is read live: the twin may push, edit or remove definitions at run time. */
export function createCloudFormation(accountId: string, region: string, stacks: StackDefinition[]) {
  const created = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
  const stackId = (name: string) =>
    `arn:aws:cloudformation:${region}:${accountId}:stack/${name}/${uuidFrom(`${accountId}|${region}|${name}`)}`;
  const view = (s: StackDefinition) => ({
    StackId: stackId(s.stackName),
    StackName: s.stackName,
    CreationTime: created,
    StackStatus: s.status ?? 'CREATE_COMPLETE',
    DisableRollback: false,
    Capabilities: ['CAPABILITY_IAM'],
    ...(s.outputs.length
      ? {
          Outputs: s.outputs.map((o) => ({
            OutputKey: o.key,
            OutputValue: o.value,
            Description: o.description,
            ExportName: o.exportName,
          })),
        }
      : {}),
    EnableTerminationProtection: false,
    DriftInformation: { StackDriftStatus: 'NOT_CHECKED' },
  });
  return {
    stacks,
    ops: {
      DescribeStacks(i: Record<string, string>) {
        const wanted = i.StackName;
        if (!wanted) return { Stacks: stacks.filter((s) => s.status !== 'DELETE_COMPLETE').map(view) };
        const s = stacks.find(
          (x) => (x.stackName === wanted && x.status !== 'DELETE_COMPLETE') || stackId(x.stackName) === wanted,
        );
        if (!s) throw new AwsError('ValidationError', `Stack with id ${wanted} does not exist`);
        return { Stacks: [view(s)] };
      },
    } as Record<string, (i: Record<string, string>) => unknown>,
  };
}
