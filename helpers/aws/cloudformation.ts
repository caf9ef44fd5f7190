/**
 * Where the deployment is: instance ids, private IPs and node accounts from the MPC stack's
 * CloudFormation outputs (CDK-hashed names matched by prefix), the NEAR base from its stack, and
 * who we are (STS) — compared with what the configuration expects.
 */
import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { withRetry } from '../retry.ts';

export interface DiscoveredNode {
  index: number;
  instanceId: string;
  privateIp: string;
  accountId: string;
}
export interface Deployment {
  nodes: DiscoveredNode[];
  nearBase?: { instanceId: string; privateIp?: string };
}

const CDK_HASH = /[0-9A-F]{8}$/;
const norm = (k: string) => k.replace(/[^a-z0-9]/gi, '').toLowerCase();

export function nodesFromOutputs(outputs: Output[]): DiscoveredNode[] {
  const nodes = new Map<number, Partial<DiscoveredNode>>();
  for (const o of outputs) {
    const key = o.OutputKey ?? '';
    const m =
      /^(?:MpcNetwork)?Node(\d+)(InstanceId|PrivateIp|AccountId)$/.exec(key.replace(CDK_HASH, '')) ??
      /^(?:MpcNetwork)?Node(\d+)(InstanceId|PrivateIp|AccountId)$/.exec(key);
    if (!m) continue;
    const n = nodes.get(Number(m[1])) ?? { index: Number(m[1]) };
    const field = { InstanceId: 'instanceId', PrivateIp: 'privateIp', AccountId: 'accountId' }[
      m[2] as 'InstanceId'
    ] as 'instanceId';
    n[field] = o.OutputValue!;
    nodes.set(n.index!, n);
  }
  const list = [...nodes.values()].sort((a, b) => a.index! - b.index!);
  const incomplete = list.filter((n) => !n.instanceId || !n.privateIp || !n.accountId);
  if (incomplete.length)
    throw new Error(
      `stack outputs are incomplete for node(s) ${incomplete.map((n) => n.index).join(', ')} (need Node{i}InstanceId, Node{i}PrivateIp, Node{i}AccountId)`,
    );
  return list as DiscoveredNode[];
}

export async function discover(region: string, mpcStack: string, nearStack: string): Promise<Deployment> {
  const cfn = new CloudFormationClient({ region, maxAttempts: 4 });
  const describe = async (name: string) => {
    try {
      const r = await withRetry(`DescribeStacks ${name}`, () =>
        cfn.send(new DescribeStacksCommand({ StackName: name })),
      );
      return r.Stacks?.[0]?.Outputs ?? [];
    } catch (e) {
      if ((e as Error).name === 'ValidationError')
        throw new Error(
          `CloudFormation stack ${name} does not exist in ${region} (set MPC_STACK_NAME / NEAR_STACK_NAME)`,
        );
      throw e;
    }
  };
  const [mpc, near] = await Promise.all([describe(mpcStack), describe(nearStack).catch(() => [] as Output[])]);
  const nodes = nodesFromOutputs(mpc);
  if (!nodes.length) throw new Error(`stack ${mpcStack} has no Node{i}InstanceId outputs`);
  const find = (k: string) => near.find((o) => norm(o.OutputKey ?? '') === k)?.OutputValue;
  const id = find('nearinstanceid');
  return {
    nodes,
    ...(id
      ? {
          nearBase: {
            instanceId: id,
            ...(find('nearinstanceprivateip') ? { privateIp: find('nearinstanceprivateip')! } : {}),
          },
        }
      : {}),
  };
}
