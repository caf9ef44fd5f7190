/**
 * The twin's MPC node as one OS process (`node twin/node/main.ts start local`): node.ts with this
 * process's argv, environment and stdio; SIGTERM is the node's own shutdown (exit 0). The twin's
 * container runtime runs nodes more cheaply, many to a node host (host.ts); tests may run this one.
 */
import { startMpcNode } from './node.ts';

const node = startMpcNode({
  argv: process.argv.slice(2),
  env: process.env,
  write: (stream, text) => process[stream].write(text),
  exit: (code) => process.exit(code),
});
process.on('SIGTERM', () => void node.stop().then(() => process.exit(0)));
