/**
 * A node that crash-loops after the fix-up restarts it (here: its config.yaml was broken on disk and
 * only read again at the restart). The run stops red at 03 with the container's state and last log
 * lines, the new secrets.json stays journaled; once the cause is fixed, fix again converges without
 * writing anything twice.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { readJournal } from '../../helpers/journal.ts';
import { leakedSecrets, runbook, workspace } from './runbook-runs.ts';
import { useTwin } from '../twin-fixture.ts';

describe('a node crash-loops after its restart', () => {
  const startedTwin = useTwin('incident-key-mismatch');

  test('03 is red with the crash evidence; after the cause is fixed the re-run converges', async () => {
    const twin = startedTwin();
    const broken = twin.nodes[2]!;
    const configPath = join(broken.dataDir, 'config.yaml');
    const config = readFileSync(configPath, 'utf8');
    writeFileSync(configPath, `${config}\nweb_ui: [unclosed\n`);

    const first = workspace();
    // The wait ends when every node not back crash-loops: no fixed budget to outlast on a busy machine.
    const r1 = await runbook(twin, 'fix', first);
    expect(r1.code, r1.output.slice(-3000)).toBe(1);
    expect(r1.output).toContain('mpc-node-2 crash-loops after the restart (stopped waiting)');
    expect(r1.output).toMatch(
      new RegExp(
        `mpc-node-2 \\(${broken.instanceId}\\): container (restarting|exited|running), ` +
          '\\d+ restarts? since \\S+ — crash-looping; last log: .*failed to parse config file',
      ),
    );
    expect(r1.output).not.toMatch(/mpc-node-[01] \(i-\w+\): container/); // only the stuck node is named
    expect(r1.output).toMatch(/04-contract-running +skipped \(skipped: 03-nodes-healthy failed earlier/);
    const j1 = readJournal(first.journals()[0]!);
    expect(j1.filter((e) => e.action.kind === 'rematerialise-node-secrets' && e.phase === 'done')).toHaveLength(3);

    writeFileSync(configPath, config); // the operator repairs the cause; Docker's restart loop picks it up
    const second = workspace();
    const r2 = await runbook(twin, 'fix', second);
    expect(r2.code, r2.output.slice(-3000)).toBe(0);
    expect(
      second
        .journals()
        .flatMap(readJournal)
        .filter((e) => e.phase === 'done'),
    ).toEqual([]); // nothing left to write
    expect(leakedSecrets(twin, r1.output + r2.output + first.artifacts() + second.artifacts())).toEqual([]);
  });
});
