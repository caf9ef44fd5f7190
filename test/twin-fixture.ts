/**
 * The one way tests start a whole twin: `useTwin(scenario)` in a describe starts it before the
 * suite's first test and stops it after the last (even when a test fails), with fast blocks; the
 * returned function gives the running twin inside a test.
 */
import { afterAll, beforeAll } from 'vitest';
import { type StartTwinOptions, startTwin, type Twin } from '../twin/start.ts';

export function useTwin(scenario: string, opts: Partial<StartTwinOptions> = {}): () => Twin {
  let twin: Twin | undefined;
  beforeAll(async () => {
    twin = await startTwin({ scenario, blockTimeMs: 150, ...opts });
  });
  afterAll(async () => twin?.stop());
  return () => {
    if (!twin) throw new Error(`the ${scenario} twin did not start`);
    return twin;
  };
}
