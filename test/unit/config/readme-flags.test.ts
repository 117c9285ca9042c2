// Keeps the README's flag table equal to the one generated from the flag table, so the README
// never claims a flag or a status the parser does not have.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { flagsMarkdownTable } from '../../../src/config/index.js';

describe('README flag table', () => {
  it('matches flagsMarkdownTable()', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const match = /<!-- flags-table:start -->\n([\s\S]*?)\n<!-- flags-table:end -->/.exec(readme);
    expect(match, 'README.md lacks the flags-table markers').not.toBeNull();
    expect(match![1]).toBe(flagsMarkdownTable());
  });
});
