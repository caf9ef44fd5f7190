/**
 * The NEAR base probe as 01 reads it: a node curl never reported is a failed probe (a red step naming
 * the node and what the NEAR base printed), never "no answer" — which would send 03 to the network.
 */
import { ListCommandInvocationsCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { describe, expect, test } from 'vitest';
import type { RunbookContext } from '../../helpers/harness/context.ts';
import { nodeSelfReports } from '../../helpers/observe.ts';

const nodes = [0, 1, 2].map((i) => ({ index: i, instanceId: `i-0${i}`, privateIp: `10.0.0.1${i}` }));
const line = (i: number) => `node=${i} health=200 signer=ed25519:S${i} p2p=ed25519:P${i} exit=0`;

/** An SSM whose one command on the NEAR base prints `stdout` (and `stderr` after the agent's error title). */
function contextPrinting(stdout: string, stderr = '') {
  const ssm = {
    send: async (cmd: unknown) => {
      if (cmd instanceof SendCommandCommand) return { Command: { CommandId: 'c0' } };
      if (cmd instanceof ListCommandInvocationsCommand) {
        const Output = stderr ? `${stdout}\n----------ERROR-------\n${stderr}` : stdout;
        const inv = { InstanceId: 'i-base', Status: 'Success', StatusDetails: 'Success' };
        return { CommandInvocations: [{ ...inv, CommandPlugins: [{ Output, ResponseCode: 0 }] }] };
      }
      throw new Error(`unexpected SSM call ${(cmd as object).constructor.name}`);
    },
  } as unknown as SSMClient;
  const deployment = { nodes, nearBase: { instanceId: 'i-base' } };
  return { config: { RUNBOOK_SSM_TIMEOUT_S: 30 }, deployment, ssm } as unknown as RunbookContext;
}

describe('01: every node has a line from the NEAR base probe', () => {
  test('all reported: one report per node', async () => {
    const reports = await nodeSelfReports(contextPrinting([0, 1, 2].map(line).join('\n')));
    expect([...reports.keys()]).toEqual([0, 1, 2]);
    expect(reports.get(1)).toMatchObject({ health: '200', signer: 'ed25519:S1', curlExit: 0 });
  });

  test('a node without a line: the probe failed, naming the node and what the NEAR base printed', async () => {
    const ctx = contextPrinting([0, 2].map(line).join('\n'), 'curl: option --parallel: is unknown');
    await expect(nodeSelfReports(ctx)).rejects.toThrow(
      /printed no line for node 1 \(curl ≥ 7\.75 needed\): curl: option --parallel: is unknown/,
    );
  });
});
