import { describe, expect, test } from 'vitest';
import { callerIdentity } from '../helpers/discovery.ts';
import { pingStatus } from '../helpers/fleet.ts';
import { waitUntil } from '../helpers/retry.ts';
import { openStep, prerequisitesHold, use } from '../helpers/runbook.ts';

const step = await openStep('00-preflight');

describe('00 preflight: the runbook can see the whole Layer 3', () => {
  prerequisitesHold(step, test);

  test('the deployment is discovered from its CloudFormation outputs', (t) => {
    const { deployment, config } = use(step, t);
    t.annotate(`stack ${config.MPC_STACK_NAME}: ${deployment.nodes.map((n) => `${n.accountId}=${n.instanceId}@${n.privateIp}`).join(', ')}; NEAR base ${deployment.nearBase?.instanceId ?? 'not found'}`, 'evidence');
    expect(deployment.nodes.length, 'MPC nodes in the stack outputs').toBeGreaterThan(0);
    expect(deployment.nearBase, `NEAR base instance in stack ${config.NEAR_STACK_NAME}`).toBeDefined();
  });

  test('the NEAR RPC answers: the expected chain, synced, blocks advancing', async (t) => {
    const { near, config } = use(step, t);
    const first = await near.status();
    // Poll until the head moves (no fixed sleep): a stalled chain fails after 15 s.
    const second = await waitUntil('the NEAR head to advance', async () => {
      const s = await near.status();
      return s.sync_info.latest_block_height > first.sync_info.latest_block_height ? s : undefined;
    }, { timeoutMs: 15_000, intervalMs: 100 }).catch(() => near.status());
    t.annotate(`chain ${first.chain_id}, height ${first.sync_info.latest_block_height} → ${second.sync_info.latest_block_height}, syncing ${second.sync_info.syncing}`, 'evidence');
    if (config.NEAR_EXPECTED_CHAIN_ID) expect(first.chain_id, 'chain id').toBe(config.NEAR_EXPECTED_CHAIN_ID);
    expect(second.sync_info.syncing, 'the RPC node is still syncing').toBe(false);
    expect(second.sync_info.latest_block_height, 'block height did not advance in 15 s').toBeGreaterThan(first.sync_info.latest_block_height);
  });

  test('the MPC contract is deployed and answers version()', async (t) => {
    const { near, config } = use(step, t);
    const account = await near.viewAccount(config.MPC_CONTRACT_ID);
    const version = await near.contractView<string>('version');
    t.annotate(`${config.MPC_CONTRACT_ID}: code_hash ${account.code_hash}, version ${version}`, 'evidence');
    expect(account.code_hash, `${config.MPC_CONTRACT_ID} has no code`).not.toBe('11111111111111111111111111111111');
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test('AWS credentials belong to the expected account', async (t) => {
    const { config, mode } = use(step, t);
    const id = await callerIdentity(config.AWS_REGION);
    t.annotate(`caller ${id.arn} in ${config.AWS_REGION}`, 'evidence');
    if (config.EXPECTED_AWS_ACCOUNT_ID) expect(id.account, 'AWS account').toBe(config.EXPECTED_AWS_ACCOUNT_ID);
    else expect(mode, 'EXPECTED_AWS_ACCOUNT_ID is required for fix mode').not.toBe('fix');
    if (config.EXPECTED_AWS_REGION) expect(config.AWS_REGION, 'AWS region').toBe(config.EXPECTED_AWS_REGION);
  });

  test('every instance is online in SSM', async (t) => {
    const { ssm, deployment } = use(step, t);
    const ids = [...deployment.nodes.map((n) => n.instanceId), ...(deployment.nearBase ? [deployment.nearBase.instanceId] : [])];
    const ping = await pingStatus(ssm, ids);
    const offline = ids.filter((id) => ping.get(id) !== 'Online').map((id) => `${id}: ${ping.get(id) ?? 'not managed by SSM'}`);
    t.annotate(`${ids.length - offline.length}/${ids.length} Online`, 'evidence');
    expect(offline, 'instances not Online in SSM').toEqual([]);
  });

  test('the keys manifest parses and is self-consistent', (t) => {
    const { manifest, manifestError } = use(step, t);
    if (manifestError) throw new Error(manifestError);
    for (const w of manifest!.warnings) t.annotate(w, 'warning');
    expect(manifest!.nodes.length).toBeGreaterThan(0);
  });
});
