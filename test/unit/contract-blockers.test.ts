/**
 * Step 04's observation and wait, against a stub NEAR client and a stub SSM: a Running contract gathers
 * nothing more (a healthy gate stays as cheap as before); a fix run's wait that ends without Running ends
 * with what blocks it, never a bare "timed out".
 */
import { ListCommandInvocationsCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { describe, expect, test } from 'vitest';
import {
  contractRunning,
  describeWaitForRunning,
  observeContract,
  untilRunning,
} from '../../helpers/contract-claims.ts';
import type { RunbookContext } from '../../helpers/harness/context.ts';
import type { FixUpIO } from '../../helpers/harness/fix-up.ts';
import { parseContractState } from '../../helpers/near/contract-state.ts';

const nodes = [0, 1, 2].map((i) => ({
  index: i,
  instanceId: `i-0${i}`,
  privateIp: `10.0.0.1${i}`,
  accountId: `mpc-node-${i}.localnet`,
}));
const participants = nodes.map((n) => [
  n.accountId,
  n.index,
  { url: `http://${n.privateIp}:3000`, sign_pk: `ed25519:P${n.index}` },
]);
const parameters = { participants: { next_id: 3, participants }, threshold: 2 };
const domains = { domains: [{ id: 0, scheme: 'Secp256k1' }], next_domain_id: 1 };
const INITIALIZING = parseContractState({
  Initializing: {
    domains,
    epoch_id: 0,
    generated_keys: [],
    generating_key: { epoch_id: 0, domain: domains.domains[0], parameters, instance: null, next_attempt_id: 0 },
  },
});
const RUNNING = parseContractState({
  Running: { domains, keyset: { epoch_id: 0, domains: [{ domain_id: 0, key: {}, attempt: 0 }] }, parameters },
});

/** What each node's instance answers: node 1 runs and is attested, but nobody can connect to its P2P port. */
function instanceOutput(comment: string, instanceId: string): string {
  const i = Number(instanceId.slice(-1));
  if (comment.includes('P2P reach'))
    return [0, 1, 2]
      .filter((t) => t !== i)
      .map((t) => {
        const [exit, connect] = t === 1 ? [7, '0'] : [52, '0.0002'];
        return `probe to=${t} host=10.0.0.1${t} port=3000 exit=${exit} result=${connect} 000`;
      })
      .join('\n');
  return [
    `node=${i} container=running started=T restarts=0 web_port=8080 port_override=- own_health=200`,
    `metrics indexer_height=1000 job=Initializing live=${i === 1 ? '-' : '0'} dead=${i === 1 ? '0,2' : '1'}`,
    'logs accesskeynotfound=0 tcp_bind=0 attestation_failed=0 attested=1 could_not_connect=2',
    i === 1 ? '' : `last_log=T  INFO mpc_node::p2p: Could not connect to 1, retrying: TCP connect, me ${i}`,
  ].join('\n');
}

function stubContext(state: typeof INITIALIZING) {
  const calls = { ssm: 0, views: [] as string[] };
  const sent = new Map<string, { comment: string; ids: string[] }>();
  const ssm = {
    send: async (cmd: unknown) => {
      calls.ssm++;
      if (cmd instanceof SendCommandCommand) {
        const id = `c${sent.size}`;
        sent.set(id, { comment: cmd.input.Comment ?? '', ids: cmd.input.InstanceIds ?? [] });
        return { Command: { CommandId: id } };
      }
      if (cmd instanceof ListCommandInvocationsCommand) {
        const c = sent.get(cmd.input.CommandId!)!;
        return {
          CommandInvocations: c.ids.map((id) => ({
            InstanceId: id,
            Status: 'Success',
            StatusDetails: 'Success',
            CommandPlugins: [{ Output: instanceOutput(c.comment, id), ResponseCode: 0 }],
          })),
        };
      }
      throw new Error(`unexpected SSM call ${(cmd as object).constructor.name}`);
    },
  } as unknown as SSMClient;
  const near = {
    contractState: async () => state,
    status: async () => ({ sync_info: { latest_block_height: 1000 } }),
    contractView: async (method: string, args?: { tls_public_key?: string }) => {
      calls.views.push(method);
      if (method === 'config') return { key_event_timeout_blocks: 30 };
      if (method === 'get_tee_accounts')
        return nodes.map((n) => ({ account_id: n.accountId, tls_public_key: `ed25519:P${n.index}` }));
      if (method === 'get_attestation') return args?.tls_public_key ? { Mock: 'Valid' } : null;
      throw new Error(`unexpected view ${method}`);
    },
  };
  const ctx = {
    config: { RUNBOOK_RUNNING_TIMEOUT_S: 1, RUNBOOK_SSM_TIMEOUT_S: 30, MPC_CONTRACT_ID: 'v1.signer.localnet' },
    deployment: { nodes },
    near,
    ssm,
  } as unknown as RunbookContext;
  return { ctx, calls };
}

describe('04: what blocks the key event, gathered only when the contract is not Running', () => {
  test('a Running contract: nothing more is asked (no SSM, no attestation views)', async () => {
    const { ctx, calls } = stubContext(RUNNING);
    const ev = await observeContract(ctx);
    expect(ev.blockers).toBeUndefined();
    expect(calls).toEqual({ ssm: 0, views: [] });
    expect(contractRunning(ev, ctx).problems).toEqual([]);
  });

  test('not Running: one SSM command per kind across the nodes; the blocker named with the table', async () => {
    const { ctx, calls } = stubContext(INITIALIZING);
    const ev = await observeContract(ctx);
    expect(ev.blockers?.nodes.map((n) => n.state?.index)).toEqual([0, 1, 2]);
    expect(calls.views.sort()).toEqual([
      'config',
      'get_attestation',
      'get_attestation',
      'get_attestation',
      'get_tee_accounts',
    ]);
    const v = contractRunning(ev, ctx);
    expect(v.summary).toContain('votes 0 of 3 (no attempt running)');
    expect(v.summary).toContain(
      "nothing listens on mpc-node-1.localnet's P2P port 3000 (refused from mpc-node-0.localnet, mpc-node-2.localnet)",
    );
    expect(v.summary).toContain('reach       → 1 10.0.0.11:3000 refused · → 2 10.0.0.12:3000 connected');
    // Waiting may clear it (a node still starting): fix waits.
    expect(describeWaitForRunning(ev, ctx).map((a) => a.kind)).toEqual(['wait']);
  });

  test('a wait that ends without Running ends with what blocks it, never a bare "timed out"', async () => {
    const { ctx } = stubContext(INITIALIZING);
    const said: string[] = [];
    const io = { ctx, step: '04-contract-running', progress: (l: string) => said.push(l) } as unknown as FixUpIO;
    const ev = await untilRunning([{ kind: 'wait', target: 'v1.signer Running', text: 'wait' }], io);
    const v = contractRunning(ev, ctx);
    expect(v.summary).toMatch(/^after waiting [12] s, v1\.signer is Initializing/);
    expect(v.summary).toContain('blocked by:');
    expect(v.summary).toContain("nothing listens on mpc-node-1.localnet's P2P port 3000");
    expect(v.summary).not.toContain('timed out');
    expect(said.join('\n')).toContain('waiting for Running: Initializing');
  });

  test('nothing to wait for: the fix says so and asks the nodes once more', async () => {
    const { ctx, calls } = stubContext(INITIALIZING);
    const io = { ctx, step: '04-contract-running', progress: () => {} } as unknown as FixUpIO;
    const ev = await untilRunning([], io);
    expect(contractRunning(ev, ctx).summary).toMatch(
      /^nothing to wait for \(what blocks it does not clear by waiting\)/,
    );
    expect(calls.ssm).toBeGreaterThan(0);
  });
});
