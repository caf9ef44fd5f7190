/**
 * What a run changed on a twin, counted: Secrets Manager versions (of every node secret), node file
 * writes (secrets.json and config.yaml whose bytes changed) and container starts (an mpc-node whose
 * StartedAt moved: a restart or a start).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Twin } from '../../twin/start.ts';
import { type RunResult, runbook, workspace } from './runbook-runs.ts';

const SECRETS = ['mpc_account_sk', 'mpc_p2p_private_key', 'mpc_secret_store_key'];
const FILES = ['secrets.json', 'config.yaml'];

export interface Footprint {
  versions: number;
  files: Record<string, string>;
  startedAt: Record<string, string>;
}

export function footprint(twin: Twin): Footprint {
  const versions = twin.nodes
    .flatMap((n) => SECRETS.map((k) => twin.aws.secrets.versions(`mpc-node-${n.index}-${k}`).length))
    .reduce((a, b) => a + b, 0);
  const files = Object.fromEntries(
    twin.nodes.flatMap((n) =>
      FILES.map((f) => {
        const path = join(n.dataDir, f);
        const sha = existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'none';
        return [`mpc-node-${n.index}/${f}`, sha];
      }),
    ),
  );
  const startedAt = Object.fromEntries(
    twin.nodes.map((n) => [
      `mpc-node-${n.index}`,
      String(twin.fleet.container(n.instanceId, 'mpc-node')?.State.StartedAt ?? 'none'),
    ]),
  );
  return { versions, files, startedAt };
}

/** What changed between two footprints: counts, and which files and containers. */
export function changes(before: Footprint, after: Footprint) {
  const files = Object.keys(after.files).filter((k) => after.files[k] !== before.files[k]);
  const started = Object.keys(after.startedAt).filter((k) => after.startedAt[k] !== before.startedAt[k]);
  return {
    secretVersions: after.versions - before.versions,
    nodeFileWrites: files.length,
    containerStarts: started.length,
    files: files.sort(),
    started: started.sort(),
  };
}

/**
 * A fix run that must stop red having written nothing: no Secrets Manager version, no node file write, no
 * container start, no journal. Its output (and artifacts) go to `outputs` for the leak check.
 */
export async function fixWritingNothing(twin: Twin, outputs: string[]): Promise<RunResult> {
  const before = footprint(twin);
  const ws = workspace();
  const fix = await runbook(twin, 'fix', ws);
  outputs.push(fix.output, ws.artifacts());
  expect(fix.code, fix.output.slice(-3000)).toBe(1);
  expect(changes(before, footprint(twin))).toMatchObject({ secretVersions: 0, nodeFileWrites: 0, containerStarts: 0 });
  expect(ws.journals()).toEqual([]);
  return fix;
}
