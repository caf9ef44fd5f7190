/**
 * What the failure-mode catalogue tests count: every write the runbook could make to a Layer 3 — Secrets
 * Manager versions of the node secrets, the node's secrets.json and its backups (the files the runbook
 * writes on an instance; key shares the node writes itself are not the runbook's), and the mpc-node
 * container's start time and restart count (docker inspect).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import type { Twin } from '../../twin/start.ts';
import { leakedSecrets, type RunResult, runbook, workspace } from './runbook-runs.ts';

const SECRETS = ['mpc_account_sk', 'mpc_p2p_private_key', 'mpc_secret_store_key'];

export interface Writes {
  secretVersions: Record<string, number>;
  nodeFiles: Record<string, string>;
  containers: Record<string, string>;
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16);

/** Everything the runbook could have written, as it is now. */
export function writesNow(twin: Twin): Writes {
  const secretVersions: Record<string, number> = {};
  const nodeFiles: Record<string, string> = {};
  const containers: Record<string, string> = {};
  for (const n of twin.nodes) {
    for (const s of SECRETS) {
      const name = `mpc-node-${n.index}-${s}`;
      secretVersions[name] = twin.aws.secrets.versions(name).length;
    }
    for (const f of readdirSync(n.dataDir).filter((f) => f.startsWith('secrets.json'))) {
      nodeFiles[`${n.accountId}:${f}`] = sha(join(n.dataDir, f));
    }
    const c = twin.fleet.container(n.instanceId, 'mpc-node');
    containers[n.accountId] = c ? `started ${c.State.StartedAt}, RestartCount ${c.RestartCount}` : 'none';
  }
  return { secretVersions, nodeFiles, containers };
}

/** The writes between two snapshots, one line each: "secret X: 1 new version", "file …", "container …". */
export function writesBetween(before: Writes, after: Writes): string[] {
  const out: string[] = [];
  for (const [name, v] of Object.entries(after.secretVersions)) {
    const added = v - (before.secretVersions[name] ?? 0);
    if (added) out.push(`secret ${name}: ${added} new version${added === 1 ? '' : 's'}`);
  }
  const files = new Set([...Object.keys(before.nodeFiles), ...Object.keys(after.nodeFiles)]);
  for (const f of [...files].sort()) {
    if (before.nodeFiles[f] === after.nodeFiles[f]) continue;
    out.push(`file ${f}: ${before.nodeFiles[f] ? (after.nodeFiles[f] ? 'rewritten' : 'removed') : 'created'}`);
  }
  for (const [node, c] of Object.entries(after.containers)) {
    if (c !== before.containers[node]) out.push(`container ${node}: restarted`);
  }
  return out;
}

/** A run's verdict: its exit code and the catalogue entry its report names. */
export function expectVerdict(r: RunResult, o: { code: number; known?: string; kind?: 'failure' | 'condition' }) {
  expect(r.code, r.output.slice(-3000)).toBe(o.code);
  if (!o.known) return;
  const label = o.kind === 'condition' ? 'Known condition' : 'Known failure';
  expect(r.output).toContain(`${label}: ${o.known} — docs/failure-modes.md#${o.known}`);
}

/** No output of these runs holds a secret of the twin's scenario. */
export function expectNoLeak(twin: Twin, texts: string[]) {
  expect(leakedSecrets(twin, texts.join('\n'))).toEqual([]);
}

/** One scenario of the catalogue, as its tests run it: gate, plan and fix on one twin, writes counted. */
export interface CatalogueCase {
  /** The catalogue entry the report must name (the scenario file's name). */
  known: string;
  /** failure (red) or condition (a warning; green). */
  kind?: 'failure' | 'condition';
  /** What the gate's output must hold: the step lines and the named diagnosis with its evidence. */
  gateSays: (string | RegExp)[];
  /** The manual remedy (refusals): in the gate's output and again in fix's. */
  remedy?: string | RegExp;
  /** refuses: fix stops red with zero writes; repairs: fix writes exactly `writes` and the gate turns green. */
  fix: 'refuses' | 'repairs' | 'nothing to do';
  writes?: string[];
  /** What the fix run's output must hold besides the remedy. */
  fixSays?: (string | RegExp)[];
  /** Extra configuration for the fix run (e.g. a short wait where nothing can happen). */
  fixEnv?: Record<string, string>;
}

function holds(output: string, says: (string | RegExp | undefined)[]) {
  for (const s of says) {
    if (typeof s === 'string') expect(output).toContain(s);
    else if (s) expect(output).toMatch(s);
  }
}

const FIX_TITLES = {
  refuses: 'fix stops red with zero writes, and says the manual remedy',
  repairs: 'fix writes exactly the repair, and the gate turns green',
  'nothing to do': 'fix writes nothing',
};

/** The tests of one scenario on one running twin (started by the caller with useTwin). */
export function catalogueTests(started: () => Twin, c: CatalogueCase) {
  const ws = workspace();
  const outputs: string[] = [];
  const red = c.kind !== 'condition';
  const verdict = { code: red ? 1 : 0, known: c.known, kind: c.kind ?? 'failure' } as const;

  test(`gate: ${red ? 'red with' : 'green, with the warning of'} ${c.known}, its evidence and its entry`, async () => {
    const r = await runbook(started(), 'gate', ws);
    outputs.push(r.output);
    expectVerdict(r, verdict);
    holds(r.output, [...c.gateSays, c.remedy]);
  });

  test('plan writes nothing', async () => {
    const twin = started();
    const before = writesNow(twin);
    const r = await runbook(twin, 'plan', ws);
    outputs.push(r.output);
    expectVerdict(r, verdict);
    expect(writesBetween(before, writesNow(twin))).toEqual([]);
    expect(ws.journals()).toEqual([]);
  });

  test(FIX_TITLES[c.fix], async () => {
    const twin = started();
    const before = writesNow(twin);
    const fix = await runbook(twin, 'fix', ws, c.fixEnv);
    outputs.push(fix.output);
    const writes = writesBetween(before, writesNow(twin));
    if (c.fix === 'refuses') {
      expectVerdict(fix, verdict);
      holds(fix.output, [c.remedy, ...(c.fixSays ?? [])]);
      expect(writes).toEqual([]);
      expect(ws.journals()).toEqual([]);
      return;
    }
    expect(fix.code, fix.output.slice(-3000)).toBe(0);
    expect(writes).toEqual(c.writes ?? []);
    expect(ws.journals().length).toBe(c.fix === 'repairs' ? 1 : 0);
    const gate = await runbook(twin, 'gate', ws);
    outputs.push(gate.output);
    expect(gate.code, gate.output.slice(-3000)).toBe(0);
    if (c.fix === 'repairs') expect(gate.output).not.toContain(`Known failure: ${c.known}`);
  });

  test('no output of these runs holds a secret', () => {
    expect(outputs.length).toBeGreaterThanOrEqual(3);
    expectNoLeak(started(), [...outputs, ws.artifacts()]);
  });
}
