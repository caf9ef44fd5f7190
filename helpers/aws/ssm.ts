/**
 * SSM: Run Command on the instances — batched (≤ 50 instances per SendCommand, status reads that back
 * off, output taken from the status read when it fits), every outcome classified — and the instances'
 * agent state (PingStatus). The scripts it
 * runs live with what they observe (instances/) or repair (repairs/).
 */
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  type ListCommandInvocationsCommandOutput,
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

const NOTHING_RAN = 'nothing ran there';
const STARTED_NOT_FINISHED = 'the command started but did not finish in time; check the instance before running again';

const stderrNote = (r: InvocationResult) => (r.stderr.trim() ? ` (${r.stderr.trim()})` : '');

/** An invocation's outcome as an operator needs it: did the command run at all, what state is the instance in? */
export function describeOutcome(r: InvocationResult | undefined): string {
  if (!r) return 'no result from SSM';
  if (r.details === 'DeliveryTimedOut' || r.details === 'Undeliverable')
    return `${r.status}/${r.details}: the command never reached the instance (SSM agent not connected); ${NOTHING_RAN}`;
  if (r.details === 'ExecutionTimedOut' || r.status === 'TimedOut')
    return `${r.status}/${r.details || 'ExecutionTimedOut'}: ${STARTED_NOT_FINISHED}${stderrNote(r)}`;
  return `${r.status}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''}`;
}

const TERMINAL = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled', 'Cancelling']);

/**
 * Status reads after SendCommand: a short first wait, then backing off to a cap. Run Command shows
 * nothing at all for the first ~0.5 s after the send, a short script finished about a second after it,
 * and a repair that restarts a node takes tens of seconds. Reads land at 0.3, 1.1, 2.1, 3.1 s, then a
 * third of the time since the send apart (4.1, 5.5, 7.3, 9.8, 13 s, …, at most 5 s apart): a script
 * SSM shows done at once is seen at 0.3 s with one read, a one-second command at 1.1 s with two, one of
 * two seconds with three; a longer one is seen at most a third of its time late (5 s at most), so a
 * 30-second repair costs 13 reads where one a second cost 31. An earlier read would only ever see
 * nothing on AWS.
 */
export const STATUS_POLL = { firstMs: 300, secondMs: 800, minMs: 1_000, lateShare: 1 / 3, maxMs: 5_000 } as const;

/** The wait after the `reads`-th status read, `sinceSendMs` after the send. */
export function statusPollDelay(reads: number, sinceSendMs: number): number {
  if (reads <= 1) return STATUS_POLL.secondMs;
  return Math.round(Math.min(STATUS_POLL.maxMs, Math.max(STATUS_POLL.minMs, sinceSendMs * STATUS_POLL.lateShare)));
}

/** Status reads for something that began at `since` (a SendCommand), backing off by statusPollDelay. */
const pollingSince = (since: number) => (reads: number) => statusPollDelay(reads, Date.now() - since);

/**
 * The SSM agent's plugin Output (ListCommandInvocations, Details): stdout, then the error title and
 * stderr, cut at 2,500 characters with a marker (amazon-ssm-agent iohandler.go TruncateOutput).
 */
const PLUGIN_OUTPUT_MAX = 2_500;
const ERROR_TITLE = '\n----------ERROR-------\n';
const CUT_MARKERS = ['\n---Output truncated---', '\n---Error truncated----'];

/** stdout and stderr from a plugin Output, or undefined when it was cut (or cannot be split unambiguously). */
export function splitPluginOutput(output: string): { stdout: string; stderr: string } | undefined {
  if (output.length >= PLUGIN_OUTPUT_MAX || CUT_MARKERS.some((m) => output.includes(m))) return undefined;
  const at = output.indexOf(ERROR_TITLE);
  if (at < 0) return { stdout: output, stderr: '' };
  if (output.indexOf(ERROR_TITLE, at + 1) >= 0) return undefined;
  return { stdout: output.slice(0, at), stderr: output.slice(at + ERROR_TITLE.length) };
}

type ListedInvocation = NonNullable<ListCommandInvocationsCommandOutput['CommandInvocations']>[number];

/** One SendCommand to ≤ 50 instances, then status reads (backing off) until every invocation is terminal. */
async function sendAndWait(
  ssm: SSMClient,
  batch: string[],
  commands: string[],
  o: RunOptions,
): Promise<{ commandId: string; invocations: ListedInvocation[] }> {
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
  const sentAt = Date.now();
  await new Promise((r) => setTimeout(r, STATUS_POLL.firstMs));
  // Run Command is eventually consistent: the list may be empty, or short, for a while after the send.
  const invocations = await waitUntil(
    `SSM command "${o.comment}" on ${batch.length} instance(s)`,
    async () => {
      const r = await withRetry('ListCommandInvocations', () =>
        ssm.send(new ListCommandInvocationsCommand({ CommandId: commandId, Details: true })),
      );
      const list = r.CommandInvocations ?? [];
      const finished = list.filter((i) => TERMINAL.has(i.Status!)).length;
      o.progress?.(`"${o.comment}": ${finished} of ${batch.length} instance(s) finished`);
      return list.length === batch.length && finished === batch.length ? list : undefined;
    },
    { timeoutMs: (o.timeoutS + 30) * 1000, intervalMs: pollingSince(sentAt) },
  );
  return { commandId, invocations };
}

/** The whole output of one invocation (up to 24,000 / 8,000 characters), when the listed Output was cut. */
async function fullOutput(ssm: SSMClient, commandId: string, instanceId: string, comment: string) {
  // Run Command is eventually consistent: an invocation may not be readable yet (InvocationDoesNotExist).
  const full = await waitUntil(
    `the output of "${comment}" on ${instanceId}`,
    async () => {
      try {
        return await withRetry('GetCommandInvocation', () =>
          ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId })),
        );
      } catch (e) {
        if ((e as Error).name === 'InvocationDoesNotExist') return undefined;
        throw e;
      }
    },
    { timeoutMs: 30_000, intervalMs: pollingSince(Date.now()) },
  );
  return { stdout: full.StandardOutputContent ?? '', stderr: full.StandardErrorContent ?? '' };
}

/**
 * Run one script on many instances; resolves with every instance's outcome (never throws for a
 * failed script). Per 50 instances: one SendCommand and a few ListCommandInvocations (Details) —
 * whose plugin Output carries stdout and stderr — and a GetCommandInvocation only for an instance
 * whose Output was cut at 2,500 characters.
 */
export interface RunOptions {
  timeoutS: number;
  comment: string;
  /** Told, at every status read, how many instances have finished (for a long wait's progress line). */
  progress?: (line: string) => void;
}

export async function runOn(
  ssm: SSMClient,
  instanceIds: string[],
  commands: string[],
  o: RunOptions,
): Promise<Map<string, InvocationResult>> {
  const results = new Map<string, InvocationResult>();
  const batches: string[][] = [];
  for (let i = 0; i < instanceIds.length; i += 50) batches.push(instanceIds.slice(i, i + 50));
  await Promise.all(
    batches.map(async (batch) => {
      const { commandId, invocations } = await sendAndWait(ssm, batch, commands, o);
      await Promise.all(
        invocations.map(async (inv) => {
          const plugin = inv.CommandPlugins?.[0];
          const out =
            splitPluginOutput(plugin?.Output ?? '') ?? (await fullOutput(ssm, commandId, inv.InstanceId!, o.comment));
          results.set(inv.InstanceId!, {
            instanceId: inv.InstanceId!,
            status: inv.Status!,
            details: inv.StatusDetails ?? '',
            exitCode: plugin?.ResponseCode ?? -1,
            stdout: redactor.redact(out.stdout),
            stderr: redactor.redact(out.stderr),
          });
        }),
      );
    }),
  );
  return results;
}

export async function pingStatus(ssm: SSMClient, instanceIds: string[]): Promise<Map<string, string>> {
  const chunks: string[][] = [];
  for (let i = 0; i < instanceIds.length; i += 50) chunks.push(instanceIds.slice(i, i + 50));
  const pages = await Promise.all(
    chunks.map((ids) =>
      withRetry('DescribeInstanceInformation', () =>
        ssm.send(
          new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: ids }], MaxResults: 50 }),
        ),
      ),
    ),
  );
  return new Map(pages.flatMap((r) => (r.InstanceInformationList ?? []).map((x) => [x.InstanceId!, x.PingStatus!])));
}
