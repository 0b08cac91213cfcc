import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { renderConfigReference } from '../../src/config/schema.ts';

test('the README configuration reference is the one generated from the schema', async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const match = /<!-- config-reference:start[^\n]*-->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(readme);
  assert.ok(match, 'README has the config-reference markers');
  assert.equal(match[1], renderConfigReference().trimEnd(), 'regenerate the README section from renderConfigReference()');
});
