import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { mergeSorted, paginate } from '../../src/distribute/listing.ts';
import { compareLexical } from '../../src/store/index.ts';

// A sorted, de-duplicated list as the listing service hands it to paginate.
const sortedList = fc.uniqueArray(fc.string({ unit: fc.constantFrom(...'abAB01._-/'), minLength: 1, maxLength: 6 }), { maxLength: 40 }).map((l) => [...l].sort(compareLexical));

describe('n/last pagination', () => {
  test('pages of 2 with a Link until the end', () => {
    const items = ['a', 'b', 'c', 'd', 'e'];
    assert.deepEqual(paginate(items, 2, undefined), { page: ['a', 'b'], more: true });
    assert.deepEqual(paginate(items, 2, 'b'), { page: ['c', 'd'], more: true });
    assert.deepEqual(paginate(items, 2, 'd'), { page: ['e'], more: false });
    assert.deepEqual(paginate(items, 5, undefined), { page: items, more: false });
    assert.deepEqual(paginate(items, undefined, 'c'), { page: ['d', 'e'], more: false });
    assert.deepEqual(paginate(items, 0, undefined), { page: [], more: false });
    assert.deepEqual(paginate(items, 2, 'bb'), { page: ['c', 'd'], more: true });
    assert.deepEqual(paginate(items, 2, 'z'), { page: [], more: false });
    assert.deepEqual(paginate([], 2, undefined), { page: [], more: false });
  });

  test('property: following `more` with last = end of page walks every item once, in order', () => {
    fc.assert(
      fc.property(sortedList, fc.integer({ min: 1, max: 12 }), (items, n) => {
        const seen: string[] = [];
        let last: string | undefined;
        for (let pages = 0; ; pages += 1) {
          assert.ok(pages <= items.length + 1, 'pagination does not terminate');
          const { page, more } = paginate(items, n, last);
          assert.ok(page.length <= n);
          if (last !== undefined) for (const item of page) assert.ok(compareLexical(item, last) > 0);
          seen.push(...page);
          if (!more) break;
          assert.equal(page.length, n, 'a page before the last is full');
          last = page.at(-1);
        }
        assert.deepEqual(seen, items);
      }),
    );
  });

  test('property: without n the page is everything after last', () => {
    fc.assert(
      fc.property(sortedList, fc.option(fc.string({ maxLength: 4 }), { nil: undefined }), (items, last) => {
        const { page, more } = paginate(items, undefined, last);
        assert.equal(more, false);
        assert.deepEqual(page, last === undefined ? items : items.filter((i) => compareLexical(i, last) > 0));
      }),
    );
  });

  test('property: mergeSorted is the sorted union', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.string({ maxLength: 4 }), { maxLength: 10 }), { maxLength: 4 }), (lists) => {
        const merged = mergeSorted(lists);
        assert.deepEqual(merged, [...new Set(lists.flat())].sort(compareLexical));
        for (let i = 1; i < merged.length; i += 1) assert.ok(compareLexical(merged[i - 1]!, merged[i]!) < 0);
      }),
    );
  });
});
