/**
 * docs/failure-modes.md cannot drift from what is proven: every scenario file has its row (in the index and
 * as a section with the five fields), every row names a scenario file, and the runbook's catalogue
 * (helpers/catalogue.ts, what the report matches) has exactly the documented entries.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CATALOGUE, CATALOGUE_DOC } from '../../helpers/catalogue.ts';
import { listScenarios } from '../../twin/scenario.ts';

const doc = readFileSync(join(import.meta.dirname, '..', '..', CATALOGUE_DOC), 'utf8');
const indexRows = [...doc.matchAll(/^\| \[`([a-z0-9-]+)`\]\(#([a-z0-9-]+)\) /gm)].map((m) => ({
  id: m[1]!,
  anchor: m[2]!,
}));
const sections = [...doc.matchAll(/^## ([a-z0-9-]+)\n([\s\S]*?)(?=^## |(?![\s\S]))/gm)].map((m) => ({
  id: m[1]!,
  body: m[2]!,
}));
const FIELDS = ['Symptom', 'Root cause', 'Evidence the runbook shows', 'gate / plan / fix', 'Next'];

describe(CATALOGUE_DOC, () => {
  const files = listScenarios();

  test('every scenario file has a row in the index and a section', () => {
    const missing = files.filter((f) => !indexRows.some((r) => r.id === f) || !sections.some((s) => s.id === f));
    expect(missing, `scenario files without a row in ${CATALOGUE_DOC}`).toEqual([]);
  });

  test('every row and section names a scenario file', () => {
    const known = new Set(files);
    expect(indexRows.map((r) => r.id).filter((id) => !known.has(id))).toEqual([]);
    expect(sections.map((s) => s.id).filter((id) => !known.has(id))).toEqual([]);
    expect(indexRows.map((r) => r.id)).toEqual(sections.map((s) => s.id)); // one order, no duplicates
    expect(new Set(indexRows.map((r) => r.id)).size).toBe(indexRows.length);
  });

  test('each index row links its own section', () => {
    for (const r of indexRows) expect(r.anchor).toBe(r.id);
  });

  test('each section gives the five fields: symptom, root cause, evidence, gate / plan / fix, next', () => {
    for (const s of sections) {
      const fields = [...s.body.matchAll(/^- \*\*([^*]+)\*\*:/gm)].map((m) => m[1]);
      expect(fields, s.id).toEqual(FIELDS);
    }
  });

  test('the catalogue the report matches holds exactly the documented entries', () => {
    expect(CATALOGUE.map((e) => e.id)).toEqual(indexRows.map((r) => r.id));
  });
});
