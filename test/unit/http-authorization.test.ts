import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAuthorization } from '../../src/http/authorization.ts';

describe('Authorization header', () => {
  test('item 12: the scheme is case-insensitive and any run of blanks separates it from the credentials', () => {
    for (const header of ['Bearer abc.def', 'bearer abc.def', 'BEARER abc.def', 'bEaReR  abc.def', 'bearer\tabc.def', ' Bearer abc.def ']) {
      assert.deepEqual(parseAuthorization(header), { scheme: 'bearer', credentials: 'abc.def' }, JSON.stringify(header));
    }
    assert.deepEqual(parseAuthorization('basic YTpi'), { scheme: 'basic', credentials: 'YTpi' });
    assert.deepEqual(parseAuthorization('Basic'), { scheme: 'basic', credentials: '' });
  });

  test('absent, blank or malformed headers have no scheme', () => {
    for (const header of [undefined, '', '   ', '"Bearer" x', '(x) y']) assert.equal(parseAuthorization(header), undefined, JSON.stringify(header));
  });
});
