/**
 * 02-secrets-restored — Secrets Manager holds keys that are on chain.
 * Evidence: BatchGetSecretValue (20 per call). Fix-up: PutSecretValue of the manifest key, only if it
 * is on chain for that account, with a deterministic ClientRequestToken; the replaced VersionId is
 * journaled; checked again.
 */
import { describe } from 'vitest';
import { defineFixUp } from '../helpers/harness/fix-up.ts';
import { runbookStep } from '../helpers/harness/step.ts';
import { secretsOnChain } from '../helpers/key-claims.ts';
import { observeKeys } from '../helpers/observe.ts';
import { describeSecretRestores, observeKeysAgain, restoreSecrets } from '../helpers/repairs/restore-secrets.ts';

const { test, nodes } = await runbookStep('02-secrets-restored', observeKeys);

const restoreFromManifest = defineFixUp({
  name: 'restore secrets from the manifest',
  describe: describeSecretRestores,
  apply: restoreSecrets,
  settle: observeKeysAgain,
});

describe('02 secrets restored: Secrets Manager holds, for every node, keys that are on chain', () => {
  test.for(nodes)(
    '$accountId: mpc_account_sk derives an access key of the account, mpc_p2p_private_key its participant sign_pk',
    (node, { claim }) => claim(secretsOnChain(node), { fixUp: restoreFromManifest, node: node.index }),
  );
});
