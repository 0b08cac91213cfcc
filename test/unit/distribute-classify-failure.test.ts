// How a broken transfer is read decides what the engine does next (piece-run.ts classifyFailure):
// a peer that relays a piece as it arrives and breaks off mid-body lost its own source and let its
// readers go, or refused the piece because it gets it from the reader (piece-readers.ts); it is
// skipped for that piece, not penalised as a failed peer.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OciError } from '../../src/oci/index.ts';
import { PeerRequestError } from '../../src/distribute/peer-data.ts';
import { classifyFailure } from '../../src/distribute/piece-run.ts';
import { SeedRefusedError } from '../../src/distribute/seed-refusal.ts';
import type { PieceSource } from '../../src/distribute/piece-source.ts';

const source = (kind: PieceSource['kind'], fromDisk?: boolean): PieceSource => ({ id: 'p', kind, fromDisk, open: () => Promise.reject(new Error('unused')) });
const midBody = new Error('other side closed');
const unanswered = new PeerRequestError('peer did not answer');

describe('distribute: classifyFailure', () => {
  test('a relay (a holder of part of the blob) breaking off mid-body or refusing is relay-broke; unanswered, it failed', () => {
    assert.equal(classifyFailure(midBody, source('holder', false), false), 'relay-broke');
    assert.equal(classifyFailure(new PeerRequestError('404 for that piece', 404), source('holder', false), false), 'relay-broke');
    assert.equal(classifyFailure(unanswered, source('holder', false), false), 'peer-failed');
  });

  test('a holder of the whole blob serves from its disk: breaking off is its own failure', () => {
    assert.equal(classifyFailure(midBody, source('holder', true), false), 'peer-failed');
    assert.equal(classifyFailure(new PeerRequestError('404 for that piece', 404), source('holder', true), false), 'peer-failed');
  });

  test('owners, busy peers, the seed and stops keep their meaning', () => {
    assert.equal(classifyFailure(midBody, source('owner'), false), 'owner-refused');
    assert.equal(classifyFailure(unanswered, source('owner'), false), 'peer-failed');
    assert.equal(classifyFailure(new PeerRequestError('busy', 503), source('holder', false), false), 'busy');
    assert.equal(classifyFailure(midBody, source('seed'), false), 'seed');
    assert.equal(classifyFailure(new OciError('BLOB_UNKNOWN', 'gone'), source('seed'), false), 'seed-final');
    // A refusal of shoal's credentials does not end with waiting, as an outage does.
    assert.equal(classifyFailure(new OciError('UNAUTHORIZED', 'authentication required'), source('seed'), false), 'seed-final');
    assert.equal(classifyFailure(new SeedRefusedError(new OciError('DENIED', 'no pull access')), source('seed'), false), 'seed-final');
    assert.equal(classifyFailure(midBody, source('holder', false), true), 'stopped');
  });
});
