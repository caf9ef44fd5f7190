/**
 * The twin as a whole, seen only through its real boundaries: NEAR JSON-RPC (near-api-js), the
 * AWS endpoint (unmodified AWS SDK) and shell commands on the instances (SSM Run Command).
 */
import { beforeAll, describe, expect, test, vi } from 'vitest';
import { JsonRpcProvider } from 'near-api-js';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { base58 } from '@scure/base';
import type { Twin } from '../../twin/start.ts';
import { twinAwsConfig, useTwin } from '../twin-fixture.ts';

const BLOCK_MS = 100;
const TIMEOUT_BLOCKS = 5;

function awsClients(twin: Twin) {
  const cfg = twinAwsConfig(twin);
  return { sm: new SecretsManagerClient(cfg), ssm: new SSMClient(cfg) };
}

/** SendCommand + poll GetCommandInvocation, as any SSM user would. */
async function runShell(ssm: SSMClient, instanceId: string, commands: string[], timeoutMs = 60_000) {
  const sent = await ssm.send(
    new SendCommandCommand({
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [instanceId],
      Parameters: { commands },
      TimeoutSeconds: 60,
    }),
  );
  // Run Command is eventually consistent: the invocation may not be readable at once.
  return vi.waitFor(
    async () => {
      const inv = await ssm.send(
        new GetCommandInvocationCommand({ CommandId: sent.Command!.CommandId!, InstanceId: instanceId }),
      );
      if (!['Success', 'Failed', 'TimedOut', 'Cancelled'].includes(inv.Status!)) throw new Error(`still ${inv.Status}`);
      return inv;
    },
    { timeout: timeoutMs, interval: 100 },
  );
}

async function contractState(provider: JsonRpcProvider, contractId: string): Promise<Record<string, any>> {
  return (await provider.callFunction({ contractId, method: 'state', args: {} })) as Record<string, any>;
}

async function waitForState(provider: JsonRpcProvider, contractId: string, name: string, timeoutMs: number) {
  return vi.waitFor(
    async () => {
      const state = await contractState(provider, contractId);
      expect(Object.keys(state)).toEqual([name]);
      return state;
    },
    { timeout: timeoutMs, interval: BLOCK_MS },
  );
}

describe('incident-key-mismatch on the twin', () => {
  const started = useTwin('incident-key-mismatch', { blockTimeMs: BLOCK_MS, keyEventTimeoutBlocks: TIMEOUT_BLOCKS });
  let twin: Twin;
  let provider: JsonRpcProvider;
  beforeAll(() => {
    twin = started();
    provider = new JsonRpcProvider({ url: twin.rpcUrl }, { retries: 2, wait: 50 });
  });

  test('stays Initializing for three key-event timeouts; each node logs AccessKeyNotFound for itself', async () => {
    const start = twin.chain.head.height;
    await expect
      .poll(() => twin.chain.head.height, { timeout: 300_000, interval: BLOCK_MS })
      .toBeGreaterThanOrEqual(start + 3 * TIMEOUT_BLOCKS + 2);
    const { ssm } = awsClients(twin);
    // Wait for each node's own failure in its log (a busy machine lets blocks pass before it prints).
    for (const node of twin.nodes) {
      const count = async () => {
        const inv = await runShell(ssm, node.instanceId, [
          `docker logs mpc-node 2>&1 | grep -c "AccessKeyNotFound { account_id: ${node.accountId}"`,
        ]);
        return Number(inv.StandardOutputContent!.trim());
      };
      await expect
        .poll(count, { timeout: 300_000, interval: 500, message: `${node.accountId} logs` })
        .toBeGreaterThan(0);
    }
    const state = await contractState(provider, twin.contractId);
    expect(Object.keys(state)).toEqual(['Initializing']);
  });

  test('healing with only AWS SDK calls and SSM shell commands brings the contract to Running', async () => {
    const { sm, ssm } = awsClients(twin);
    const manifest = JSON.parse((await import('node:fs')).readFileSync(twin.manifestPath, 'utf8')) as Record<
      string,
      Record<string, string>
    >;
    for (const node of twin.nodes) {
      const entry = manifest[`node-${node.index}`]!;
      const onChain = await provider.viewAccessKeyList({ accountId: node.accountId });
      expect(onChain.keys.map((k) => k.public_key)).toContain(entry.MPC_ACCOUNT_PK);
      await sm.send(
        new PutSecretValueCommand({
          SecretId: `mpc-node-${node.index}-mpc_account_sk`,
          SecretString: entry.MPC_ACCOUNT_SK,
        }),
      );
      const inv = await runShell(ssm, node.instanceId, [
        'set -eu',
        'D="${MPC_DATA_DIR:-/data}"',
        // No --region: the CLI finds it in the instance metadata (IMDS), as on a real instance.
        `SK=$(aws secretsmanager get-secret-value --secret-id mpc-node-${node.index}-mpc_account_sk \\`,
        "  --query SecretString --output text | tr -d '\\n')",
        'cp "$D/secrets.json" "$D/secrets.json.bak"',
        'jq --arg sk "$SK" \'.near_signer_key = $sk | .near_responder_keys = [$sk]\' \\',
        '  "$D/secrets.json.bak" > "$D/secrets.json"',
        'docker restart mpc-node >/dev/null',
        'echo restarted',
      ]);
      expect(inv.Status, inv.StandardErrorContent).toBe('Success');
    }
    // The secret now holds the manifest key.
    const v = await sm.send(new GetSecretValueCommand({ SecretId: 'mpc-node-0-mpc_account_sk' }));
    expect(v.SecretString).toBe(manifest['node-0']!.MPC_ACCOUNT_SK);
    const running = await waitForState(provider, twin.contractId, 'Running', 60_000);
    expect(running.Running.keyset.domains[0].key.Secp256k1.near_public_key).toMatch(/^secp256k1:/);
  });
});

describe('healthy on the twin', () => {
  const started = useTwin('healthy', { blockTimeMs: BLOCK_MS });
  let twin: Twin;
  let provider: JsonRpcProvider;
  beforeAll(() => {
    twin = started();
    provider = new JsonRpcProvider({ url: twin.rpcUrl }, { retries: 2, wait: 50 });
  });

  test('is Running with a real secp256k1 root key, and derived_public_key = root + tweak·G', async () => {
    const root = (await provider.callFunction({
      contractId: twin.contractId,
      method: 'public_key',
      args: { domain_id: 0 },
    })) as string;
    expect(root).toMatch(/^secp256k1:/);
    const xy = base58.decode(root.slice('secp256k1:'.length));
    const rootPoint = secp256k1.Point.fromBytes(Uint8Array.from([4, ...xy])); // throws unless on the curve
    const tweak = sha3_256(
      new TextEncoder().encode('near-mpc-recovery v0.1.0 epsilon derivation:test.localnet,ethereum-test'),
    );
    const expected = rootPoint.add(secp256k1.Point.BASE.multiply(BigInt(`0x${Buffer.from(tweak).toString('hex')}`)));
    const derived = (await provider.callFunction({
      contractId: twin.contractId,
      method: 'derived_public_key',
      args: { path: 'ethereum-test', predecessor: 'test.localnet', domain_id: 0 },
    })) as string;
    expect(derived).toBe(`secp256k1:${base58.encode(expected.toBytes(false).slice(1))}`);
  });

  test('docker restart through SSM gives a new process that keeps the key from /data/secrets.json', async () => {
    const { ssm } = awsClients(twin);
    const node = twin.nodes[1]!;
    const pid = async () =>
      (
        await runShell(ssm, node.instanceId, ["docker inspect --format '{{.State.Pid}}' mpc-node"])
      ).StandardOutputContent!.trim();
    const publicData = async () => {
      const inv = await runShell(ssm, twin.nearBase.instanceId, [
        `curl -sf --retry 20 --retry-delay 1 --retry-all-errors http://${node.privateIp}:8080/public_data`,
      ]);
      return JSON.parse(inv.StandardOutputContent!) as { near_signer_public_key: string };
    };
    const before = await pid();
    const keyBefore = (await publicData()).near_signer_public_key;
    expect((await runShell(ssm, node.instanceId, ['docker restart mpc-node'])).Status).toBe('Success');
    const after = await pid();
    expect(after).not.toBe(before);
    expect((await publicData()).near_signer_public_key).toBe(keyBefore);
  });
});
