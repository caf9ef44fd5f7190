/** Shared pieces for the failure-mode scenario tests: the twin through near-api-js, the AWS SDK and docker logs. */
import { vi } from 'vitest';
import { JsonRpcProvider } from 'near-api-js';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Twin } from '../../twin/start.ts';
import { twinAwsConfig } from '../twin-fixture.ts';

/** The block time the failure-mode tests run the twin at. */
export const BLOCK_MS = 150;

/** near-api-js against the twin's operator-facing RPC, as the runbook uses it. */
export const providerOf = (twin: Twin) => new JsonRpcProvider({ url: twin.rpcUrl }, { retries: 2, wait: 50 });

/** Everything node i's `mpc-node` container printed (`docker logs mpc-node 2>&1`). */
export function nodeLog(twin: Twin, i: number): string {
  return twin.fleet
    .containerLogs(twin.nodes[i]!.instanceId, 'mpc-node')
    .map((l) => l.text)
    .join('');
}

/** How many times `needle` occurs in node i's log. */
export const logCount = (twin: Twin, i: number, needle: string) => nodeLog(twin, i).split(needle).length - 1;

/** The current Secrets Manager value of a secret, read with the unmodified AWS SDK. */
export async function secretValue(twin: Twin, secretId: string): Promise<string> {
  const sm = new SecretsManagerClient(twinAwsConfig(twin));
  return (await sm.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString!;
}

/** A node's /public_data, fetched from its private address as the NEAR base would (once its web server is up). */
export async function publicData(twin: Twin, i: number) {
  const r = await vi.waitFor(() => fetch(`http://${twin.nodes[i]!.privateIp}:8080/public_data`), {
    timeout: 60_000,
    interval: 100,
  });
  return (await r.json()) as { near_signer_public_key: string; near_p2p_public_key: string };
}

/** Rejection of a promise that must reject. */
export const rejectionOf = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );

/** The contract's `state()` as any client reads it. */
export const stateOf = async (twin: Twin): Promise<any> =>
  providerOf(twin).callFunction({ contractId: twin.contractId, method: 'state', args: {} });
