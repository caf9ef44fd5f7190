/** Secrets in the shapes seen in the user's deployment history: each diagnosed by name, then fixed. */
import { describe, expect, test } from 'vitest';
import { fixThenGate, leakedSecrets, runbook, workspace } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';

const cases = [
  {
    scenario: 'placeholder-secret',
    node: 1,
    says: 'is placeholder: the secret still holds the CDK placeholder PLACEHOLDER_REPLACE_WITH_REAL_KEY',
  },
  { scenario: 'json-wrapped-secret', node: 0, says: 'holds the right key but the value is JSON-wrapped' },
  { scenario: 'secret-with-trailing-newline', node: 2, says: 'holds the right key but the value ends with a newline' },
] as const;

describe.for(cases)('runbook on $scenario', ({ scenario, node, says }) => {
  const started = useTwin(scenario);

  test(`gate names mpc-node-${node}'s secret and what is wrong with it; fix restores it; gate goes green`, async () => {
    const twin = started();
    const ws = workspace();
    const gate = await runbook(twin, 'gate', ws);
    expect(gate.code).not.toBe(0);
    expect(gate.output).toContain(`mpc-node-${node}.localnet: Secrets Manager mpc-node-${node}-mpc_account_sk ${says}`);
    expect(gate.output).toMatch(/03-nodes-healthy +\d+ passed, 0 failed/); // the running node itself is fine
    const { fix, gate: again } = await fixThenGate(twin, ws);
    expect(twin.aws.secrets.current(`mpc-node-${node}-mpc_account_sk`)).toMatch(/^ed25519:[1-9A-HJ-NP-Za-km-z]+$/);
    expect(leakedSecrets(twin, gate.output + fix.output + again.output + ws.artifacts())).toEqual([]);
  });
});
