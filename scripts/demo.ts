/**
 * npm run demo: the runbook healing the reported incident on the twin, narrated.
 * Starts the twin on `incident-key-mismatch`, then runs the runbook against it through ordinary
 * configuration (the same variables a real deployment would use): gate (red) → fix → gate (green).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startTwin } from '../twin/start.ts';
import { withCompileCache } from './compile-cache.ts';

const say = (s: string) => process.stdout.write(`\n\x1b[1m== ${s}\x1b[0m\n`);
const colour = (code: number | null) => (code === 0 ? 'green' : 'red');
const root = join(import.meta.dirname, '..');
// The twin lives in this process, so the runbook runs as a child we wait for without blocking it.
const runbook = (mode: string, env: Record<string, string>) =>
  new Promise<number | null>((ok) => {
    spawn(process.execPath, [join(root, 'scripts', 'runbook.ts'), mode], {
      cwd: root,
      env: withCompileCache({ ...process.env, ...env }),
      stdio: 'inherit',
    }).on('exit', ok);
  });

say('Starting the twin: scenario incident-key-mismatch');
const twin = await startTwin({
  scenario: 'incident-key-mismatch',
  blockTimeMs: Number(process.env.DEMO_BLOCK_MS ?? 300),
});
process.stdout.write(
  `${twin.scenario.reproduces}\n` +
    `NEAR RPC ${twin.rpcUrl}, AWS endpoint ${twin.awsUrl}, ${twin.nodes.length} MPC instances.\n`,
);
let code = 1;
try {
  say('1. Gate (read-only): what is wrong? Expect RED, naming every node and the place that disagrees.');
  const gate1 = await runbook('gate', twin.env);
  say(
    "2. Fix: restore Secrets Manager from the manifest, re-materialise each node's /data/secrets.json, " +
      'restart, wait for Running.',
  );
  const fix = await runbook('fix', twin.env);
  say('3. Gate again: the definition of done. Expect GREEN.');
  const gate2 = await runbook('gate', twin.env);
  say(`Result: gate ${colour(gate1)} → fix ${colour(fix)} → gate ${colour(gate2)}`);
  process.stdout.write(
    'Every write is in .runbook/journal/<run>.jsonl; `npm run rollback -- <journal>` undoes it exactly.\n',
  );
  code = gate1 !== 0 && fix === 0 && gate2 === 0 ? 0 : 1;
} finally {
  await twin.stop();
}
process.exit(code);
