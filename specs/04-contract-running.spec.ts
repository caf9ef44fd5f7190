/**
 * 04-contract-running — v1.signer is Running, its root key is secp256k1, no node logged
 * AccessKeyNotFound since its container started.
 * Evidence: state() progress (attempt, votes k of N, expiry), public_key, docker logs --since via SSM. When
 * the contract is not Running (only then): per node its attestation (get_attestation, get_tee_accounts),
 * its vote, what holds its P2P port (config.yaml web_ui.port / indexer.port_override), its P2P reach to
 * every peer tested from the node itself, its container, its chain lag (/metrics vs the RPC head) and its
 * last blocking log line — one SSM command per kind across the nodes — and the blocker named with what to do.
 * Fix-up: none writes; fix mode waits (up to RUNBOOK_RUNNING_TIMEOUT_S) for the key event, unless what
 * blocks it does not clear by waiting (a P2P port collision, an attestation the contract refuses, …) — judged
 * again every 10 s while it waits.
 */
import { describe } from 'vitest';
import {
  contractRunning,
  describeWaitForRunning,
  noAccessKeyNotFound,
  observeContract,
  rootKeyIsSecp256k1,
  untilRunning,
} from '../helpers/contract-claims.ts';
import { defineFixUp, noWrites } from '../helpers/harness/fix-up.ts';
import { runbookStep } from '../helpers/harness/step.ts';

const { test } = await runbookStep('04-contract-running', observeContract);

const waitForRunning = defineFixUp({
  name: 'wait for the key event',
  describe: describeWaitForRunning,
  apply: noWrites,
  settle: untilRunning,
});

describe('04 contract running: v1.signer reaches Running and the nodes stop failing', () => {
  test('the contract is Running', ({ claim }) => claim(contractRunning, { fixUp: waitForRunning }));
  test('public_key({domain_id: 0}) is a secp256k1 key', ({ claim }) => claim(rootKeyIsSecp256k1));
  test('no node has logged AccessKeyNotFound since its container started', ({ claim }) => claim(noAccessKeyNotFound));
});
