/**
 * A fix that stops half-way converges when run again: the SSM command that re-materialises the
 * nodes hangs past its timeout; the run stops red with its journal complete; run again, it finishes
 * the job without repeating the writes that had already happened.
 */
import { describe, expect, test } from 'vitest';
import { readJournal } from '../../helpers/journal.ts';
import { leakedSecrets, runbook, workspace } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';

describe('fix interrupted by an SSM command that times out, then run again', () => {
  const startedTwin = useTwin('incident-key-mismatch');

  test('stops red with a complete journal, and the second run converges without repeating writes', async () => {
    const twin = startedTwin();
    twin.aws.faults.ssmHang = { commandPattern: 'secrets\\.json\\.runbook' };
    const first = workspace();
    const r1 = await runbook(twin, 'fix', first, { RUNBOOK_SSM_TIMEOUT_S: '3' });
    expect(r1.code).not.toBe(0);
    expect(r1.output).toMatch(
      new RegExp(
        String.raw`re-materialising failed on mpc-node-0 \(i-\w+\): TimedOut/ExecutionTimedOut: ` +
          'the command started but did not finish in time; check the instance before running again',
      ),
    );
    const j1 = readJournal(first.journals()[0]!);
    expect(j1.filter((e) => e.action.kind === 'put-secret' && e.phase === 'done')).toHaveLength(3);
    expect(j1.filter((e) => e.action.kind === 'rematerialise-node-secrets' && e.phase === 'failed')).toHaveLength(3);
    expect(j1.filter((e) => e.phase === 'intent')).toHaveLength(6); // every intent has its outcome
    expect(j1.filter((e) => e.phase !== 'intent')).toHaveLength(6);

    twin.aws.faults.ssmHang = undefined;
    const second = workspace();
    const r2 = await runbook(twin, 'fix', second);
    expect(r2.code, r2.output.slice(-3000)).toBe(0);
    const j2 = readJournal(second.journals()[0]!);
    expect(j2.filter((e) => e.action.kind === 'put-secret')).toEqual([]); // secrets were already right
    expect(j2.filter((e) => e.action.kind === 'rematerialise-node-secrets' && e.phase === 'done')).toHaveLength(3);
    expect(leakedSecrets(twin, r1.output + r2.output + first.artifacts() + second.artifacts())).toEqual([]);
  });
});
