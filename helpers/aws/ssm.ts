/**
 * SSM: Run Command on the instances — batched (≤ 50 instances per SendCommand, one status poll per
 * command), every outcome classified — and the instances' agent state (PingStatus). The scripts it
 * runs live with what they observe (instances/) or repair (repairs/).
 */
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { redactor } from '../redact.ts';
import { waitUntil, withRetry } from '../retry.ts';

export function ssmClient(region: string) {
  return new SSMClient({ region, maxAttempts: 4, retryMode: 'standard' });
}

export interface InvocationResult {
  instanceId: string;
  status: string;
  details: string;
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** An invocation's outcome as an operator needs it: did the command run at all, and what is the state of the instance? */
export function describeOutcome(r: InvocationResult | undefined): string {
  if (!r) return 'no result from SSM';
  if (r.details === 'DeliveryTimedOut' || r.details === 'Undeliverable')
    return `${r.status}/${r.details}: the command never reached the instance (SSM agent not connected); nothing ran there`;
  if (r.details === 'ExecutionTimedOut' || r.status === 'TimedOut')
    return `${r.status}/${r.details || 'ExecutionTimedOut'}: the command started but did not finish in time; check the instance before running again${r.stderr.trim() ? ` (${r.stderr.trim()})` : ''}`;
  return `${r.status}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''}`;
}

const TERMINAL = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled', 'Cancelling']);

/** Run one script on many instances; resolves with every instance's outcome (never throws for a failed script). */
export async function runOn(
  ssm: SSMClient,
  instanceIds: string[],
  commands: string[],
  o: { timeoutS: number; comment: string; fullOutput?: boolean },
): Promise<Map<string, InvocationResult>> {
  const results = new Map<string, InvocationResult>();
  const batches: string[][] = [];
  for (let i = 0; i < instanceIds.length; i += 50) batches.push(instanceIds.slice(i, i + 50));
  await Promise.all(
    batches.map(async (batch) => {
      const sent = await withRetry(`SendCommand (${o.comment})`, () =>
        ssm.send(
          new SendCommandCommand({
            DocumentName: 'AWS-RunShellScript',
            InstanceIds: batch,
            Comment: o.comment.slice(0, 100),
            TimeoutSeconds: Math.max(30, Math.ceil(o.timeoutS)),
            Parameters: { commands, executionTimeout: [String(Math.ceil(o.timeoutS))] },
          }),
        ),
      );
      const commandId = sent.Command!.CommandId!;
      const invocations = await waitUntil(
        `SSM command "${o.comment}" on ${batch.length} instance(s)`,
        async () => {
          const r = await withRetry('ListCommandInvocations', () =>
            ssm.send(new ListCommandInvocationsCommand({ CommandId: commandId, Details: true })),
          );
          const list = r.CommandInvocations ?? [];
          return list.length === batch.length && list.every((i) => TERMINAL.has(i.Status!)) ? list : undefined;
        },
        { timeoutMs: (o.timeoutS + 30) * 1000, intervalMs: 150 },
      );
      await Promise.all(
        invocations.map(async (inv) => {
          const plugin = inv.CommandPlugins?.[0];
          let stdout = plugin?.Output ?? '';
          let stderr = '';
          if (o.fullOutput || stdout.length >= 2400 || inv.Status !== 'Success') {
            // Run Command is eventually consistent: an invocation may not be readable yet (InvocationDoesNotExist).
            const full = await waitUntil(
              `the output of "${o.comment}" on ${inv.InstanceId}`,
              async () => {
                try {
                  return await withRetry('GetCommandInvocation', () =>
                    ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: inv.InstanceId! })),
                  );
                } catch (e) {
                  if ((e as Error).name === 'InvocationDoesNotExist') return undefined;
                  throw e;
                }
              },
              { timeoutMs: 30_000, intervalMs: 150 },
            );
            stdout = full.StandardOutputContent ?? '';
            stderr = full.StandardErrorContent ?? '';
          }
          results.set(inv.InstanceId!, {
            instanceId: inv.InstanceId!,
            status: inv.Status!,
            details: inv.StatusDetails ?? '',
            exitCode: plugin?.ResponseCode ?? -1,
            stdout: redactor.redact(stdout),
            stderr: redactor.redact(stderr),
          });
        }),
      );
    }),
  );
  return results;
}

export async function pingStatus(ssm: SSMClient, instanceIds: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < instanceIds.length; i += 50) {
    const r = await withRetry('DescribeInstanceInformation', () =>
      ssm.send(
        new DescribeInstanceInformationCommand({
          Filters: [{ Key: 'InstanceIds', Values: instanceIds.slice(i, i + 50) }],
          MaxResults: 50,
        }),
      ),
    );
    for (const x of r.InstanceInformationList ?? []) out.set(x.InstanceId!, x.PingStatus!);
  }
  return out;
}
