// An owner ask's size starts a piece cache before the seed confirms it only when a peer other than
// the asker announces the blob with that size and none another (size-vouch.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sizeVouched } from '../../src/distribute/size-vouch.ts';
import type { Holder } from '../../src/swarm/index.ts';

const holder = (peerId: string, size: number): Holder => ({ peerId, url: `http://${peerId}`, size, complete: false });

describe('distribute: an owner ask size vouched for by the swarm', () => {
  test('another peer announcing the same size vouches for it', () => {
    assert.equal(sizeVouched([holder('asker', 100), holder('other', 100)], 'asker', 100), true);
    assert.equal(sizeVouched([holder('other', 100)], 'asker', 100), true);
  });

  test('the asker alone, or nobody, does not', () => {
    assert.equal(sizeVouched([holder('asker', 100)], 'asker', 100), false);
    assert.equal(sizeVouched([], 'asker', 100), false);
  });

  test('any peer announcing another size sends the check to the seed', () => {
    assert.equal(sizeVouched([holder('other', 100), holder('third', 101)], 'asker', 100), false);
    assert.equal(sizeVouched([holder('other', 101)], 'asker', 100), false);
    assert.equal(sizeVouched([holder('other', 100), holder('asker', 99)], 'asker', 100), false);
  });
});
