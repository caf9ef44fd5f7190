/**
 * The manifest as the real deployment has it: public keys only for the nightly gate, none at all,
 * several revisions of which one holds the on-chain keys, one from another deployment, one whose
 * nodes are swapped. Each gives one sentence, and fix never repairs partway.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { manifestFor, resolveScenario } from '../../twin/scenario.ts';
import type { Twin } from '../../twin/start.ts';
import { useTwin } from '../twin-fixture.ts';
import { leakedSecrets, runbook, snapshot, workspace } from './runbook-runs.ts';

type ManifestJson = Record<string, Record<string, string>>;
const manifestOf = (twin: Twin) => JSON.parse(readFileSync(twin.manifestPath, 'utf8')) as ManifestJson;
function written(m: ManifestJson): string {
  const path = join(workspace().dir, 'mpc-node-keys.json');
  writeFileSync(path, JSON.stringify(m, null, 2));
  return path;
}
const publicOnly = (m: ManifestJson): ManifestJson =>
  Object.fromEntries(
    Object.entries(m).map(([k, e]) => [
      k,
      {
        MPC_ACCOUNT_ID: e.MPC_ACCOUNT_ID!,
        MPC_ACCOUNT_PK: e.MPC_ACCOUNT_PK!,
        MPC_P2P_PUBLIC_KEY: e.MPC_P2P_PUBLIC_KEY!,
      },
    ]),
  );
/** The same deployment shape with keys of another seed: a manifest of another deployment. */
const foreign = () => manifestFor(resolveScenario({ ...resolveScenario('incident-key-mismatch'), seed: 'elsewhere' }));

describe('manifests on the incident twin', () => {
  const started = useTwin('incident-key-mismatch');

  test('gate and plan need only public keys; fix with them refuses in one sentence and writes nothing', async () => {
    const twin = started();
    const env = { MPC_KEYS_FILE: written(publicOnly(manifestOf(twin))) };
    const gate = await runbook(twin, 'gate', workspace(), env);
    expect(gate.output).toMatch(/00-preflight +\d+ passed, 0 failed/);
    expect(gate.output).toMatch(/01-keys-match +1 passed, 3 failed/);
    const plan = await runbook(twin, 'plan', workspace(), env);
    expect(plan.output).toContain('PutSecretValue mpc-node-0-mpc_account_sk ← manifest node-0 account key');
    const ws = workspace();
    const before = snapshot(twin);
    const fix = await runbook(twin, 'fix', ws, env);
    expect(fix.code).not.toBe(0);
    expect(fix.output).toContain("fix needs the manifest's secret keys:");
    expect(fix.output).toContain('holds only public keys');
    expect(snapshot(twin)).toEqual(before);
    expect(ws.journals()).toEqual([]);
  });

  test('no manifest at all: the other three places are still compared, the manifest is "not given"', async () => {
    const twin = started();
    const gate = await runbook(twin, 'gate', workspace(), { MPC_KEYS_FILE: '' });
    expect(gate.output).toMatch(/00-preflight +\d+ passed, 0 failed/);
    expect(gate.output).toMatch(/01-keys-match +1 passed, 3 failed/);
    expect(gate.output).not.toContain('[manifest]'); // no finding about the manifest's place
    expect(gate.output).toContain('Secrets Manager mpc-node-0-mpc_account_sk derives');
    expect(gate.output).not.toContain('no usable entry in the keys manifest');
  });

  test('a manifest of another deployment is named as such at preflight; plan and fix repair nothing', async () => {
    const twin = started();
    const ws = workspace();
    const before = snapshot(twin);
    const env = { MPC_KEYS_FILE: written(foreign()) };
    for (const mode of ['plan', 'fix'] as const) {
      const r = await runbook(twin, mode, ws, env);
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(/the keys manifest \(\S+\) holds none of the keys on chain for mpc-node-0\.localnet/);
      expect(r.output).toContain('from another deployment or another revision, so nothing can be repaired with it');
      expect(r.output).not.toContain('Next: npm run fix');
      expect(r.output).toContain('Next: make 00-preflight pass first');
    }
    expect(snapshot(twin)).toEqual(before);
    expect(ws.journals()).toEqual([]);
  });

  test('a manifest that cannot settle two nodes (swapped) gets no partial repair of the third', async () => {
    const twin = started();
    const m = manifestOf(twin);
    [m['node-0'], m['node-1']] = [m['node-1']!, m['node-0']!];
    const ws = workspace();
    const before = snapshot(twin);
    const fix = await runbook(twin, 'fix', ws, { MPC_KEYS_FILE: written(m) });
    expect(fix.code).not.toBe(0);
    expect(fix.output).toMatch(/mpc-node-0\.localnet: disagreements the manifest cannot settle/);
    expect(fix.output).toMatch(/02-secrets-restored +skipped \(skipped: 01-keys-match failed earlier/);
    expect(snapshot(twin)).toEqual(before); // node 2's secret untouched too
    expect(ws.journals()).toEqual([]);
  });

  test('several candidates: per node the one whose keys are on chain is used, and fix heals with it', async () => {
    const twin = started();
    const ws = workspace();
    const env = { MPC_KEYS_FILE: `${written(foreign())},${twin.manifestPath}` };
    const fix = await runbook(twin, 'fix', ws, env);
    expect(fix.code, fix.output.slice(-3000)).toBe(0);
    expect(fix.output).toMatch(/mpc-node-0\.localnet: uses \S+mpc-node-keys\.json/);
    const gate = await runbook(twin, 'gate', ws, env);
    expect(gate.code, gate.output.slice(-3000)).toBe(0);
    expect(leakedSecrets(twin, fix.output + gate.output + ws.artifacts())).toEqual([]);
  });
});
