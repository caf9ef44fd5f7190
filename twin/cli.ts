/**
 * npm run twin -- --scenario <name> [--rpc-port 3030] [--block-time-ms 1000] [--nodes N]
 *
 * Runs the embedded Layer 3 in the foreground. The first lines are `export NAME=value` so another
 * shell can `eval` them and reach the twin exactly as it would a real deployment; the twin keeps its
 * state until Ctrl-C.
 */
import { parseArgs } from 'node:util';
import { listScenarios } from './scenario.ts';
import { startTwin } from './start.ts';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'incident-key-mismatch' },
    'rpc-port': { type: 'string', default: '3030' },
    'aws-port': { type: 'string', default: '0' },
    'block-time-ms': { type: 'string' },
    nodes: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    `usage: npm run twin -- [--scenario NAME] [--rpc-port 3030] [--aws-port 0] [--block-time-ms MS] [--nodes N]\n` +
      `scenarios: ${listScenarios().join(', ')}\n`,
  );
  process.exit(0);
}

const shellQuote = (v: string) => (/^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);

const twin = await startTwin({
  scenario: values.scenario!,
  rpcPort: Number(values['rpc-port']),
  awsPort: Number(values['aws-port']),
  ...(values['block-time-ms'] ? { blockTimeMs: Number(values['block-time-ms']) } : {}),
  ...(values.nodes ? { nodes: Number(values.nodes) } : {}),
  log: (line) => process.stderr.write(`twin: ${line}\n`),
}).catch((e: Error) => {
  process.stderr.write(`twin: could not start: ${e.message}\n`);
  process.exit(1);
});

for (const [k, v] of Object.entries(twin.env)) process.stdout.write(`export ${k}=${shellQuote(v)}\n`);
process.stdout.write(
  [
    '',
    `# Twin of a NEAR Chain Signatures Layer 3 — scenario "${twin.scenario.name}"`,
    `#   ${twin.scenario.description}`,
    `#   reproduces: ${twin.scenario.reproduces}`,
    `# NEAR RPC        ${twin.rpcUrl}   (contract ${twin.contractId})`,
    `# AWS endpoint    ${twin.awsUrl}   (Secrets Manager, SSM, CloudFormation, STS)`,
    `# keys manifest   ${twin.manifestPath}`,
    ...twin.nodes.map((n) => `# ${n.accountId.padEnd(22)} ${n.instanceId}  http://${n.privateIp}:8080`),
    `# NEAR base       ${twin.nearBase.instanceId}  ${twin.nearBase.privateIp}`,
    '#',
    '# In another shell, paste the export lines above, then `npm run runbook` (gate), `npm run plan` or',
    '# `npm run fix`; the AWS CLI and near-api-js reach the twin the same way. Ctrl-C stops the twin.',
    '',
  ].join('\n'),
);

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  process.stderr.write('twin: stopping…\n');
  await twin.stop();
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
