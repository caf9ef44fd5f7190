import { describe, expect, test } from 'vitest';
import { pingStatus } from '../helpers/aws/ssm.ts';
import { waitUntil } from '../helpers/retry.ts';
import { classified } from '../helpers/errors.ts';
import { awsOrigin, fixLockRefused, nearOrigin, openStep, prerequisitesHold, use } from '../helpers/runbook.ts';
import { callerIdentity } from '../helpers/aws/sts.ts';

const step = await openStep('00-preflight');

describe('00 preflight: the runbook can see the whole Layer 3', () => {
  prerequisitesHold(step, test);

  if ((process.env.RUNBOOK_MODE ?? 'gate') === 'fix') {
    test('this fix run holds the fix lock (one fix at a time, across machines)', () => {
      const refused = fixLockRefused();
      if (refused) expect.fail(`fix refused: ${refused}`);
    });
  }

  test('the deployment is discovered from its CloudFormation outputs', (t) => {
    const { deployment, config } = use(step, t);
    t.annotate(
      `stack ${config.MPC_STACK_NAME}: ${deployment.nodes.map((n) => `${n.accountId}=${n.instanceId}@${n.privateIp}`).join(', ')}; NEAR base ${deployment.nearBase?.instanceId ?? 'not found'}`,
      'evidence',
    );
    expect(deployment.nodes.length, 'MPC nodes in the stack outputs').toBeGreaterThan(0);
    expect(deployment.nearBase, `NEAR base instance in stack ${config.NEAR_STACK_NAME}`).toBeDefined();
  });

  test('the NEAR RPC answers: the expected chain, synced, blocks advancing', async (t) => {
    const { near, config } = use(step, t);
    const first = await near.status().catch((e: unknown) => {
      throw classified(e, nearOrigin(config));
    });
    // Poll until the head moves (no fixed sleep): a stalled chain fails after 15 s.
    const second = await waitUntil(
      'the NEAR head to advance',
      async () => {
        const s = await near.status();
        return s.sync_info.latest_block_height > first.sync_info.latest_block_height ? s : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    ).catch(() => near.status());
    t.annotate(
      `chain ${first.chain_id}, height ${first.sync_info.latest_block_height} → ${second.sync_info.latest_block_height}, syncing ${second.sync_info.syncing}`,
      'evidence',
    );
    if (config.NEAR_EXPECTED_CHAIN_ID && first.chain_id !== config.NEAR_EXPECTED_CHAIN_ID) {
      expect.fail(
        `the NEAR RPC at ${config.NEAR_RPC_URL} serves chain "${first.chain_id}", but NEAR_EXPECTED_CHAIN_ID is "${config.NEAR_EXPECTED_CHAIN_ID}": point NEAR_RPC_URL at the right network (or correct NEAR_EXPECTED_CHAIN_ID)`,
      );
    }
    expect(second.sync_info.syncing, 'the RPC node is still syncing').toBe(false);
    expect(second.sync_info.latest_block_height, 'block height did not advance in 15 s').toBeGreaterThan(
      first.sync_info.latest_block_height,
    );
  });

  test('the MPC contract is deployed and answers version()', async (t) => {
    const { near, config } = use(step, t);
    const account = await near.viewAccount(config.MPC_CONTRACT_ID).catch((e: Error) => {
      if (/does not exist|UNKNOWN_ACCOUNT/.test(e.message)) {
        throw new Error(
          `the contract account ${config.MPC_CONTRACT_ID} does not exist on the chain behind ${config.NEAR_RPC_URL}: set MPC_CONTRACT_ID to the account v1.signer is deployed to (e.g. v1.signer.localnet)`,
        );
      }
      throw classified(e, nearOrigin(config));
    });
    if (account.code_hash === '11111111111111111111111111111111')
      expect.fail(
        `${config.MPC_CONTRACT_ID} exists but has no contract code deployed (code_hash 1111…): deploy the MPC contract or set MPC_CONTRACT_ID`,
      );
    const version = await near.contractView<string>('version');
    t.annotate(`${config.MPC_CONTRACT_ID}: code_hash ${account.code_hash}, version ${version}`, 'evidence');
    expect(version, `${config.MPC_CONTRACT_ID}.version()`).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test('AWS credentials belong to the expected account and region', async (t) => {
    const { config, mode } = use(step, t);
    const id = await callerIdentity(config.AWS_REGION).catch((e: unknown) => {
      throw classified(e, awsOrigin('STS', config.AWS_REGION));
    });
    t.annotate(`caller ${id.arn} in ${config.AWS_REGION}`, 'evidence');
    if (config.EXPECTED_AWS_ACCOUNT_ID && id.account !== config.EXPECTED_AWS_ACCOUNT_ID) {
      expect.fail(
        `the AWS credentials are for account ${id.account} (${id.arn}), but EXPECTED_AWS_ACCOUNT_ID is ${config.EXPECTED_AWS_ACCOUNT_ID}: switch AWS_PROFILE to the account the stacks are in`,
      );
    }
    if (!config.EXPECTED_AWS_ACCOUNT_ID)
      expect(mode, 'EXPECTED_AWS_ACCOUNT_ID is required for fix mode').not.toBe('fix');
    if (config.EXPECTED_AWS_REGION && config.AWS_REGION !== config.EXPECTED_AWS_REGION) {
      expect.fail(
        `AWS_REGION is ${config.AWS_REGION}, but EXPECTED_AWS_REGION is ${config.EXPECTED_AWS_REGION}: the stacks are expected in ${config.EXPECTED_AWS_REGION}`,
      );
    }
  });

  test('every instance is online in SSM', async (t) => {
    const { ssm, deployment } = use(step, t);
    const instances = [
      ...deployment.nodes.map((n) => ({ id: n.instanceId, role: n.accountId })),
      ...(deployment.nearBase ? [{ id: deployment.nearBase.instanceId, role: 'NEAR base' }] : []),
    ];
    const ping = await pingStatus(
      ssm,
      instances.map((i) => i.id),
    );
    const offline = instances
      .filter((i) => ping.get(i.id) !== 'Online')
      .map((i) => `${i.role} (${i.id}): ${ping.get(i.id) ?? 'not managed by SSM'}`);
    t.annotate(`${instances.length - offline.length}/${instances.length} Online`, 'evidence');
    if (offline.length)
      expect.fail(
        `not Online in SSM, so the runbook cannot look inside or repair them: ${offline.join('; ')}. Check the instance is running and its SSM agent is connected (EC2 console → Fleet Manager)`,
      );
  });

  test('the keys manifest parses and is self-consistent', (t) => {
    const { manifest, manifestError } = use(step, t);
    if (manifestError) throw new Error(manifestError);
    for (const w of manifest!.warnings) t.annotate(w, 'warning');
    expect(manifest!.nodes.length).toBeGreaterThan(0);
  });
});
