// How many transfers a host runs at once for its own need, by the number of its peers
// (piece-limits.ts activePieceLimit; the figures behind it come from bench:scale).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { activePieceLimit, DEFAULT_MAX_ACTIVE_PIECES, MIN_ACTIVE_PIECES, peerPieceLimit, SEED_FIRST_MAX_PEERS, SEED_FIRST_PEER_PIECES } from '../../src/distribute/piece-limits.ts';

test('own transfers at once: the old 8 with few peers, about 1.5 per peer, at most the maximum', () => {
  assert.equal(activePieceLimit(0), MIN_ACTIVE_PIECES, 'a lone host');
  assert.equal(activePieceLimit(3), MIN_ACTIVE_PIECES, '4 hosts: 3 peers × 2 per peer + 2 seed bind first');
  assert.equal(activePieceLimit(7), 11, '8 hosts: fewer than 2 from every peer at once');
  assert.equal(activePieceLimit(15), 23);
  assert.equal(activePieceLimit(63), DEFAULT_MAX_ACTIVE_PIECES, 'under a cap of 64 connections');
  assert.equal(activePieceLimit(1000), DEFAULT_MAX_ACTIVE_PIECES);
  for (let peers = 1; peers < 200; peers++) assert.ok(activePieceLimit(peers) >= activePieceLimit(peers - 1), 'never fewer with more peers');
});

test('an engine configured for fewer transfers keeps to them', () => {
  assert.equal(activePieceLimit(63, 4), 4);
  assert.equal(activePieceLimit(2, 1), 1);
});

test('peer transfers beside seed reads: few in a small swarm, the usual number in a larger one or without seed reads', () => {
  assert.equal(peerPieceLimit(3, 1), SEED_FIRST_PEER_PIECES, '4 hosts, a seed read running');
  assert.equal(peerPieceLimit(SEED_FIRST_MAX_PEERS, 4), SEED_FIRST_PEER_PIECES);
  assert.equal(peerPieceLimit(3, 0), activePieceLimit(3), 'no seed read: the usual limit');
  assert.equal(peerPieceLimit(7, 2), activePieceLimit(7), '8 hosts: the usual limit beside seed reads too');
  assert.equal(peerPieceLimit(3, 1, 1), 1, 'an engine configured for fewer keeps to them');
});
