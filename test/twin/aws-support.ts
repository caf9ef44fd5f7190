/**
 * Shared pieces for the AWS endpoint tests: a fake InstanceHost running `bash -c` in temp dirs, and SDK
 * client config.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfiguredRetryStrategy } from '@smithy/util-retry';
import { vi } from 'vitest';
import type { InstanceHost, InstanceInfo, RunningCommand } from '../../twin/aws/instance-host.ts';
import { startAwsEndpoint, type AwsEndpoint, type AwsEndpointOptions } from '../../twin/aws/server.ts';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

export const ACCOUNT = '111122223333';
export const REGION = 'us-east-1';

export interface FakeHost extends InstanceHost {
  instances: InstanceInfo[];
  setPing(id: string, ping: InstanceInfo['pingStatus']): void;
  /** Commands handed to run(), per instance. */
  runs: { instanceId: string; commands: string[]; executionTimeoutSeconds: number; workingDirectory?: string }[];
  cleanup(): void;
}

/** Instances whose commands run under `bash -c` in a temp directory of their own. */
export function fakeHost(ids: string[]): FakeHost {
  const root = mkdtempSync(join(tmpdir(), 'aws-twin-host-'));
  const instances: InstanceInfo[] = ids.map((id, n) => ({
    instanceId: id,
    pingStatus: 'Online',
    ipAddress: `10.0.0.${10 + n}`,
    computerName: `ip-10-0-0-${10 + n}.ec2.internal`,
    platformName: 'Amazon Linux',
    platformVersion: '2023',
  }));
  const live = new Set<number>();
  const runs: FakeHost['runs'] = [];
  return {
    instances,
    runs,
    describe: () => instances.map((i) => ({ ...i })),
    setPing(id, ping) {
      const i = instances.find((x) => x.instanceId === id);
      if (!i) throw new Error(`no instance ${id}`);
      i.pingStatus = ping;
    },
    run(instanceId, commands, o): RunningCommand {
      runs.push({
        instanceId,
        commands,
        executionTimeoutSeconds: o.executionTimeoutSeconds,
        ...(o.workingDirectory ? { workingDirectory: o.workingDirectory } : {}),
      });
      const cwd = join(root, instanceId);
      mkdirSync(cwd, { recursive: true });
      const child = spawn('bash', ['-c', commands.join('\n')], {
        cwd: o.workingDirectory ?? cwd,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const pid = child.pid!;
      live.add(pid);
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const kill = () => {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, o.executionTimeoutSeconds * 1000);
      const done = new Promise<{ exitCode: number; stdout: string; stderr: string; timedOut: boolean }>((ok) => {
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          live.delete(pid);
          ok({ exitCode: code ?? (signal === 'SIGKILL' ? 137 : 1), stdout, stderr, timedOut });
        });
      });
      return { done, cancel: kill };
    },
    cleanup() {
      for (const pid of live) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Client config for the twin: explicit endpoint and credentials, fast retries (3 attempts, 0 backoff). */
export function clientConfig(aws: AwsEndpoint, o: { maxAttempts?: number } = {}) {
  return {
    endpoint: aws.url,
    region: REGION,
    credentials: { accessKeyId: 'AKIATWINTEST', secretAccessKey: 'twin-test-secret' },
    ...(o.maxAttempts === 1
      ? { maxAttempts: 1 }
      : { retryStrategy: new ConfiguredRetryStrategy(o.maxAttempts ?? 3, 0) }),
  };
}

export async function startTestEndpoint(host: InstanceHost, extra: Partial<AwsEndpointOptions> = {}) {
  return startAwsEndpoint({ accountId: ACCOUNT, region: REGION, instances: host, ...extra });
}

/**
 * Resolves with what `fn` returns once it is not undefined (Vitest's waitFor, 20 ms apart, up to `polls`
 * tries' time).
 */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  polls = 500,
): Promise<T> {
  return vi.waitFor(
    async () => {
      const v = await fn();
      if (v === undefined) throw new Error(`still waiting for ${what}`);
      return v;
    },
    { timeout: polls * 20 * 5, interval: 20 },
  );
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(
  p: Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number; attempts?: number } }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { $metadata?: { httpStatusCode?: number; attempts?: number } };
  }
  throw new Error('expected the call to fail, but it succeeded');
}
