/**
 * npm run lint (after Biome): no line of source over 120 characters — the formatter's width, which it
 * cannot enforce on strings and comments. Data and prose (JSON, Markdown, lock files) are exempt.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const WIDTH = 120;
const SOURCE = /\.(ts|js|mjs|sh|ya?ml)$|^\.ci\/run$/;
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' })
  .split('\n')
  .filter((f) => SOURCE.test(f) && existsSync(f));
const long: string[] = [];
for (const f of files) {
  readFileSync(f, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if ([...line].length > WIDTH) long.push(`${f}:${i + 1}: ${[...line].length} characters`);
    });
}
if (long.length) {
  const hint = 'name the part, or split it';
  process.stderr.write(`${long.join('\n')}\n${long.length} line(s) over ${WIDTH} characters: ${hint}\n`);
  process.exit(1);
}
process.stdout.write(`layout: ${files.length} source files, no line over ${WIDTH} characters\n`);
