import { describe, expect, test } from 'vitest';
import { errors } from '../helpers/diagnosis.ts';
import {
  collectEvidence,
  evidenceTable,
  explain,
  openStep,
  prerequisitesHold,
  use,
  type Evidence,
} from '../helpers/runbook.ts';

const step = await openStep('01-keys-match');
let evidence: Evidence | undefined;
if (step.ctx)
  evidence = await collectEvidence(step.ctx).catch((e: Error) => {
    step.blockedBecause = `collecting evidence failed: ${e.message}`;
    return undefined;
  });
const nodes = evidence?.nodes ?? [];

describe('01 keys match: every node key agrees on chain, in Secrets Manager, in the manifest and on the node', () => {
  prerequisitesHold(step, test);

  test.for(nodes)('$accountId: account key and p2p key agree in all four places', (node, t) => {
    const { mode } = use(step, t);
    const mine = evidence!.findings.filter((f) => f.node === node.index);
    t.annotate(evidenceTable(node), 'evidence');
    for (const w of mine.filter((f) => f.severity === 'warning')) t.annotate(w.message, 'warning');
    const disagreements = errors(mine);
    if (disagreements.length) t.annotate(explain(disagreements), mode === 'fix' ? 'plan' : 'diagnosis');
    if (mode === 'fix') {
      // In fix mode this step decides whether the later fix-ups may run: every disagreement must have a safe repair.
      const refused = disagreements.filter((f) => !f.repair);
      if (refused.length)
        expect.fail(`${node.accountId}: disagreements the manifest cannot settle:\n${explain(refused)}`);
      return;
    }
    if (disagreements.length) expect.fail(`${node.accountId} disagrees with the chain:\n${explain(disagreements)}`);
  });
});
