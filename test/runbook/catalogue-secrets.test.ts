/**
 * The failure-mode catalogue, secrets and the manifest (issue 14): an account secret without its ed25519:
 * prefix and a p2p secret that is not the participant sign_pk are named and restored from the manifest
 * (only a key that is on chain); a manifest whose account ids drifted to .node0 is a warning, nothing more.
 * Every write is counted: Secrets Manager versions, the nodes' secrets.json, container restarts.
 */
import { describe, expect } from 'vitest';
import { useTwin } from '../twin-fixture.ts';
import { catalogueTests } from './catalogue-support.ts';

describe('secret-without-prefix', () => {
  const started = useTwin('secret-without-prefix');
  catalogueTests(started, {
    known: 'secret-without-prefix',
    gateSays: [
      /02-secrets-restored +3 passed, 1 failed/,
      /03-nodes-healthy +\d+ passed, 0 failed/, // the running node itself is fine
      "mpc-node-1.localnet: Secrets Manager mpc-node-1-mpc_account_sk holds the right key but the value is the key's " +
        "base58 body without its 'ed25519:' prefix: the node's next bootstrap stops on it",
      /fix-up \(step 02\): write the manifest's key ed25519:\S+ to mpc-node-1-mpc_account_sk/,
    ],
    fix: 'repairs',
    writes: ['secret mpc-node-1-mpc_account_sk: 1 new version'],
  });
});

describe('p2p-secret-mismatch', () => {
  const started = useTwin('p2p-secret-mismatch');
  catalogueTests(started, {
    known: 'p2p-secret-mismatch',
    gateSays: [
      /01-keys-match +3 passed, 1 failed/,
      /02-secrets-restored +3 passed, 1 failed/,
      /mpc-node-2\.localnet: Secrets Manager mpc-node-2-mpc_p2p_private_key derives \S+, the participant sign_pk is /,
      /mpc-node-2\.localnet: the node's p2p key \S+ is not its participant sign_pk \S+ — it logs "We are not a/,
      /fix-up \(step 02\): write the manifest's key ed25519:\S+ to mpc-node-2-mpc_p2p_private_key/,
    ],
    fix: 'repairs',
    writes: [
      'secret mpc-node-2-mpc_p2p_private_key: 1 new version',
      'file mpc-node-2.localnet:secrets.json: rewritten',
      expect.stringMatching(/^file mpc-node-2\.localnet:secrets\.json\.runbook-\S+: created$/) as unknown as string,
      'container mpc-node-2.localnet: restarted',
    ],
  });
});

describe('manifest-suffix-drift', () => {
  const started = useTwin('manifest-suffix-drift');
  catalogueTests(started, {
    known: 'manifest-suffix-drift',
    kind: 'condition',
    gateSays: [
      'Runbook gate: GREEN',
      "node-1.MPC_ACCOUNT_ID: says mpc-node-1.node0, the deployment's account is mpc-node-1.localnet; the runbook " +
        'uses mpc-node-1.localnet',
    ],
    fix: 'nothing to do',
  });
});
