/**
 * The step harness without servers: the typed contract state, and a claim's path through each mode —
 * gate leaves it red, plan shows exactly what describe announced, fix applies the fix-up once for the
 * whole step and checks again, and a write that describe did not announce is refused before it happens.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import type { RunbookContext } from '../../helpers/harness/context.ts';
import { type Check, claimant } from '../../helpers/harness/claim.ts';
import { defineFixUp, type PlannedAction, UnannouncedWriteError } from '../../helpers/harness/fix-up.ts';
import { openJournal, planRollback, readJournal } from '../../helpers/journal.ts';
import {
  isRunningWithKeys,
  parseContractState,
  participantsOf,
  progressSentence,
  stateName,
} from '../../helpers/near/contract-state.ts';
import { tempDir } from '../temp-dir.ts';

const participants = {
  next_id: 2,
  participants: [
    ['mpc-node-0.localnet', 0, { url: 'http://10.0.0.1:3000', sign_pk: 'ed25519:A' }],
    ['mpc-node-1.localnet', 1, { url: 'http://10.0.0.2:3000', sign_pk: 'ed25519:B' }],
  ],
};
const parameters = { participants, threshold: 2 };
const domains = { domains: [{ id: 0, scheme: 'Secp256k1' }], next_domain_id: 1 };
const initializing = {
  Initializing: {
    domains,
    epoch_id: 0,
    generated_keys: [],
    generating_key: {
      epoch_id: 0,
      domain: { id: 0, scheme: 'Secp256k1' },
      parameters,
      instance: { attempt_id: 3, started_in: 100, expires_on: 131, completed: [1], public_key: null },
      next_attempt_id: 4,
    },
    cancel_votes: [],
  },
};
const running = {
  Running: {
    domains,
    keyset: { epoch_id: 0, domains: [{ domain_id: 0, key: { Secp256k1: { near_public_key: 'x' } }, attempt: 3 }] },
    parameters,
    parameters_votes: { proposal_by_account: {} },
    add_domains_votes: { proposal_by_account: {} },
    previously_cancelled_resharing_epoch_id: null,
  },
};

describe('the typed contract state (3.0.2 state() JSON)', () => {
  test('Initializing and Running parse, with their participants and a progress sentence', () => {
    const i = parseContractState(initializing);
    expect(stateName(i)).toBe('Initializing');
    expect(participantsOf(i).map((p) => p[0])).toEqual(['mpc-node-0.localnet', 'mpc-node-1.localnet']);
    expect(progressSentence(i, 120)).toBe(
      'Initializing: domain 0 (Secp256k1), attempt 3, votes 1 of 2, expires at block 131 (now 120)',
    );
    expect(progressSentence(i, 131)).toMatch(/, expired$/);
    expect(isRunningWithKeys(i)).toBe(false);
    const r = parseContractState(running);
    expect(stateName(r)).toBe('Running');
    expect(isRunningWithKeys(r)).toBe(true);
    expect(stateName(parseContractState('NotInitialized'))).toBe('NotInitialized');
  });

  test('a shape the runbook does not know is an error naming it, not a guess', () => {
    expect(() => parseContractState({ protocol_state: 'Initializing' })).toThrow(/protocol_state/);
    expect(() => parseContractState({ Running: { domains } })).toThrow(/Running/);
  });
});

// --- claims through the modes ---------------------------------------------------------------------

interface Box {
  broken: string[];
}
const write = (secretName: string): PlannedAction => ({
  kind: 'put-secret',
  target: secretName,
  node: Number(secretName.at(-1)),
  text: `PutSecretValue ${secretName}`,
});
const brokenSecretsOf =
  (node: number): Check<Box> =>
  (box) => ({
    evidence: `broken: ${box.broken.join(', ') || 'none'}`,
    problems: box.broken.filter((b) => b.endsWith(String(node))).map((b) => ({ message: `${b} is wrong` })),
  });

function setting(action: 'observe' | 'describe' | 'apply', box: Box) {
  const dir = tempDir('harness-');
  const journal = openJournal(dir, 'run');
  const annotations: [string, string][] = [];
  const ctx = { runId: 'run', config: {}, journal: () => journal } as unknown as RunbookContext;
  const annotate = async (message: string, type = 'notice') => void annotations.push([type, message]);
  const fixUps = new Map();
  const verifyWritable = async () => {};
  const claim = (_node: number) =>
    claimant({ step: '02-x', ctx, evidence: box, annotate, action, fixUps, verifyWritable });
  return { claim, annotations, journal, dir };
}

const repairAll = (applied: string[]) =>
  defineFixUp<Box, PlannedAction>({
    name: 'repair the box',
    describe: (box) => box.broken.map(write),
    apply: async (actions, io) => {
      for (const a of actions) {
        const ref = io.journal.intent(io.step, {
          kind: 'put-secret',
          secretName: a.target,
          replacedVersionId: null,
          token: 't',
          publicKey: 'ed25519:x',
        });
        applied.push(a.target);
        io.journal.done(ref, {});
        io.done(a, `repaired ${a.target}`);
      }
    },
    settle: async () => ({ broken: [] }),
  });

describe('a claim in each mode', () => {
  test('gate: red with the problem, and the fix-up is never asked', async () => {
    const applied: string[] = [];
    const { claim, annotations } = setting('observe', { broken: ['s0'] });
    await expect(claim(0)(brokenSecretsOf(0), { fixUp: repairAll(applied), node: 0 })).rejects.toThrow('s0 is wrong');
    expect(applied).toEqual([]);
    expect(annotations.filter(([t]) => t === 'plan')).toEqual([]);
  });

  test('plan: shows exactly what describe announced for this node, writes nothing, stays red', async () => {
    const applied: string[] = [];
    const { claim, annotations, journal } = setting('describe', { broken: ['s0', 's1'] });
    await expect(claim(1)(brokenSecretsOf(1), { fixUp: repairAll(applied), node: 1 })).rejects.toThrow('s1 is wrong');
    expect(annotations.filter(([t]) => t === 'plan')).toEqual([['plan', 'PutSecretValue s1']]);
    expect(applied).toEqual([]);
    expect(existsSync(journal.path)).toBe(false);
  });

  test('fix: applies once for the whole step, shows each node its outcome, and checks again', async () => {
    const applied: string[] = [];
    const fixUp = repairAll(applied);
    const { claim, annotations, journal } = setting('apply', { broken: ['s0', 's1'] });
    await claim(0)(brokenSecretsOf(0), { fixUp, node: 0 });
    await claim(1)(brokenSecretsOf(1), { fixUp, node: 1 });
    expect(applied).toEqual(['s0', 's1']); // once, not once per claim
    expect(annotations.filter(([t]) => t === 'fix').map(([, m]) => m)).toEqual(['repaired s0', 'repaired s1']);
    expect(readJournal(journal.path).map((e) => e.phase)).toEqual(['intent', 'done', 'intent', 'done']);
  });

  test('fix: a write describe did not announce is refused before it happens, and the claim is red', async () => {
    const sneaky = defineFixUp<Box, PlannedAction>({
      ...repairAll([]),
      name: 'sneaky',
      describe: () => [], // announces nothing…
      apply: (_, io) => repairAll([]).apply([write('s0')], io), // …and writes anyway
    });
    const { claim, journal } = setting('apply', { broken: ['s0'] });
    await expect(claim(0)(brokenSecretsOf(0), { fixUp: sneaky, node: 0 })).rejects.toThrow(
      /refused: fix-up sneaky tried to write put-secret s0, which its plan did not announce/,
    );
    expect(existsSync(journal.path) ? readFileSync(journal.path, 'utf8') : '').toBe('');
    expect(new UnannouncedWriteError('x')).toBeInstanceOf(Error);
  });
});

describe('the journal across the steps of one run', () => {
  test('refs are unique across steps, so a run killed in 03 leaves exactly 03 intents without an outcome', () => {
    const dir = tempDir('journal-');
    const put = (n: number) => ({
      kind: 'put-secret' as const,
      secretName: `mpc-node-${n}-mpc_account_sk`,
      replacedVersionId: 'v0',
      token: 't',
      publicKey: 'ed25519:x',
    });
    const rewrite = (n: number) => ({
      kind: 'rematerialise-node-secrets' as const,
      instanceId: `i-${n}`,
      node: `mpc-node-${n}`,
      backupPath: 'b',
      accountPublicKey: 'a',
      p2pPublicKey: 'p',
    });
    const step02 = openJournal(dir, 'run'); // each step is its own module: its own journal object
    for (const n of [0, 1, 2]) step02.done(step02.intent('02-secrets-restored', put(n)), { versionId: `v${n + 1}` });
    const step03 = openJournal(dir, 'run');
    for (const n of [0, 1, 2]) step03.intent('03-nodes-healthy', rewrite(n)); // killed before any outcome
    const entries = readJournal(step03.path);
    expect(new Set(entries.map((e) => e.seq)).size).toBe(entries.length);
    const plan = planRollback(entries);
    expect(plan.actions.map((a) => a.kind)).toEqual([
      'restore-secret-version',
      'restore-secret-version',
      'restore-secret-version',
    ]);
    expect(
      plan.unknown.map((e) => e.action.kind === 'rematerialise-node-secrets' && e.action.instanceId).sort(),
    ).toEqual(['i-0', 'i-1', 'i-2']);
  });
});
