/** CloudFormation DescribeStacks with outputs named the way CDK names them. */
import { createHash } from 'node:crypto';
import { AwsError } from './protocol.ts';

export interface StackDefinition {
  stackName: string;
  outputs: { key: string; value: string; description?: string; exportName?: string }[];
  status?: string;
}

/**
 * CDK logical id of a construct path below the stack (makeUniqueId): one component → that id
 * without non-alphanumerics; otherwise human part + first 8 hex (upper) of md5(path joined by "/").
 */
export function cdkOutputKey(path: string[]): string {
  const components = path.filter((c) => c !== 'Default');
  const clean = (s: string) => s.replace(/[^A-Za-z0-9]/g, '');
  if (components.length === 1) return clean(components[0]!);
  const hash = createHash('md5').update(components.join('/')).digest('hex').slice(0, 8).toUpperCase();
  const human: string[] = [];
  for (const c of components) {
    if (c === 'Resource') continue;
    if (human.length && human[human.length - 1]!.endsWith(c)) continue;
    human.push(c);
  }
  return clean(human.join('')).slice(0, 240) + hash;
}

export function createCloudFormation(accountId: string, region: string, stacks: StackDefinition[]) {
  const created = new Date(Date.now() - 3600_000);
  const view = (s: StackDefinition) => ({
    StackName: s.stackName,
    StackId: `arn:aws:cloudformation:${region}:${accountId}:stack/${s.stackName}/${createHash('md5').update(s.stackName).digest('hex').replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5')}`,
    CreationTime: created,
    StackStatus: s.status ?? 'CREATE_COMPLETE',
    Outputs: s.outputs.map((o) => ({ OutputKey: o.key, OutputValue: o.value, Description: o.description, ExportName: o.exportName })),
  });
  return {
    ops: {
      DescribeStacks(i: Record<string, string>) {
        if (!i.StackName) return { Stacks: stacks.map(view) };
        const s = stacks.find((x) => x.stackName === i.StackName || view(x).StackId === i.StackName);
        if (!s) throw new AwsError('ValidationError', `Stack with id ${i.StackName} does not exist`);
        return { Stacks: [view(s)] };
      },
    } as Record<string, (i: Record<string, string>) => unknown>,
  };
}
