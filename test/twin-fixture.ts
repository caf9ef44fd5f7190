/**
 * The one way tests start a whole twin: `useTwin(scenario)` in a describe starts it before the
 * suite's first test and stops it after the last (even when a test fails), with fast blocks; the
 * returned function gives the running twin inside a test.
 */
import { afterAll, beforeAll } from 'vitest';
import type { Scenario } from '../twin/scenario.ts';
import { type StartTwinOptions, startTwin, type Twin } from '../twin/start.ts';

/** A scenario by name, as data, or made when the suite starts (a variant of a scenario file). */
export type TwinScenario = string | Scenario | (() => Scenario);

export function useTwin(scenario: TwinScenario, opts: Partial<StartTwinOptions> = {}): () => Twin {
  let twin: Twin | undefined;
  const name = typeof scenario === 'string' ? scenario : 'scenario';
  beforeAll(async () => {
    const data = typeof scenario === 'function' ? scenario() : scenario;
    twin = await startTwin({ scenario: data, blockTimeMs: 150, ...opts });
  });
  afterAll(async () => twin?.stop());
  return () => {
    if (!twin) throw new Error(`the ${name} twin did not start`);
    return twin;
  };
}

/** The AWS client settings that reach a running twin's endpoint (what an SDK client needs, nothing else). */
export const twinAwsConfig = (twin: Twin) => ({
  endpoint: twin.env.AWS_ENDPOINT_URL!,
  region: twin.env.AWS_REGION!,
  credentials: { accessKeyId: twin.env.AWS_ACCESS_KEY_ID!, secretAccessKey: twin.env.AWS_SECRET_ACCESS_KEY! },
});
