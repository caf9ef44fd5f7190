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
  /** Why there is no NEAR base (its stack does not exist, or has no nearinstanceid output). */
  nearBaseMissing?: string;
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
      `stack outputs are incomplete for node(s) ${incomplete.map((n) => n.index).join(', ')} ` +
        '(need Node{i}InstanceId, Node{i}PrivateIp, Node{i}AccountId)',
    );
  return list as DiscoveredNode[];
}

/** Why a DescribeStacks failure is "the stack does not exist" (a ValidationError saying so), not another error. */
export function isStackMissing(e: unknown): boolean {
  const err = e as { name?: string; message?: string };
  return err?.name === 'ValidationError' && /does not exist/.test(err.message ?? '');
}

/**
 * The outputs of one stack; undefined when the stack does not exist. Any other failure (access
 * denied, throttled past the retry budget, unreachable, …) is thrown as it is, named by the call
 * (`DescribeStacks <name>: …`), for the caller to classify (helpers/errors.ts).
 */
export async function stackOutputs(cfn: CloudFormationClient, name: string): Promise<Output[] | undefined> {
  try {
    const r = await withRetry(`DescribeStacks ${name}`, () => cfn.send(new DescribeStacksCommand({ StackName: name })));
    return r.Stacks?.[0]?.Outputs ?? [];
  } catch (e) {
    if (isStackMissing(e)) return undefined;
    throw e;
  }
}

export const cloudFormationClient = (region: string) => new CloudFormationClient({ region, maxAttempts: 4 });

/** The MPC nodes from the MPC stack's outputs. */
export async function discoverNodes(region: string, mpcStack: string, cfn = cloudFormationClient(region)) {
  const mpc = await stackOutputs(cfn, mpcStack);
  if (!mpc)
    throw new Error(
      `CloudFormation stack ${mpcStack} does not exist in ${region} (set MPC_STACK_NAME / NEAR_STACK_NAME)`,
    );
  const nodes = nodesFromOutputs(mpc);
  if (!nodes.length) throw new Error(`stack ${mpcStack} has no Node{i}InstanceId outputs`);
  return nodes;
}

/**
 * The deployment: nodes from the MPC stack, the NEAR base from its stack. A NEAR stack that does not
 * exist (or lacks the output) leaves `nearBase` out and says why in `nearBaseMissing`; any other
 * error reading it (access denied, throttling, …) is thrown, never taken for "not found".
 */
export async function discover(region: string, mpcStack: string, nearStack: string): Promise<Deployment> {
  const cfn = cloudFormationClient(region);
  const [nodes, near] = await Promise.all([discoverNodes(region, mpcStack, cfn), stackOutputs(cfn, nearStack)]);
  if (!near)
    return {
      nodes,
      nearBaseMissing: `CloudFormation stack ${nearStack} does not exist in ${region} (set NEAR_STACK_NAME)`,
    };
  const find = (k: string) => near.find((o) => norm(o.OutputKey ?? '') === k)?.OutputValue;
  const id = find('nearinstanceid');
  if (!id) return { nodes, nearBaseMissing: `stack ${nearStack} has no nearinstanceid output` };
  const privateIp = find('nearinstanceprivateip');
  return { nodes, nearBase: { instanceId: id, ...(privateIp ? { privateIp } : {}) } };
}
