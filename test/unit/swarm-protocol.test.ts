import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { digestToKey } from '../../src/swarm/keys.ts';
import { hasPiece, heldPieces, piecesFromIndexes, piecesProblem } from '../../src/swarm/pieces.ts';
import { encodeFrame, MAX_BATCH, parseMessage, ProtocolViolation, toWire, type Message } from '../../src/swarm/protocol.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const ORIGIN = '12D3KooWRVEcn6k4KubMRXYUAyeDpyTvzeB8QptNgU3W7n1xVxiV';
const K1 = digestToKey(D1);

function wire(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value));
}

describe('announce protocol messages', () => {
  test('every message type survives encode → parse unchanged', () => {
    const messages: Message[] = [
      { type: 'hello', version: 1, time: 1_700_000_000_000, dataUrl: 'http://10.0.0.5:5001', dataPort: 5001 },
      { type: 'hello', version: 1, time: 5 },
      { type: 'have', blobs: [{ digest: D1, size: 0 }, { digest: D2, size: 2 ** 40 }] },
      { type: 'withdrawn', digests: [D1] },
      { type: 'progress', digest: D1, size: 10, pieces: piecesFromIndexes(10, 3, [0, 3]) },
      { type: 'progress', digest: D1, size: 10, pieces: piecesFromIndexes(10, 3, [0, 3], [3]) },
      { type: 'want', digests: [D1, D2] },
      { type: 'unwant', digests: [D2] },
      { type: 'tag', tags: [{ repository: 'library/nginx', tag: 'latest', digest: D2, timestamp: 42, origin: ORIGIN }] },
      { type: 'tag', tags: [{ repository: 'library/nginx', tag: 'old', digest: D1, timestamp: 43, origin: ORIGIN, deleted: true }] },
      { type: 'tag', tags: [{ repository: 'library/app', tag: '1', digest: D1, timestamp: 44, origin: ORIGIN, pushed: true }] },
      { type: 'peers', peers: [{ peerId: ORIGIN, addresses: ['/ip4/10.0.0.9/tcp/4001'] }] },
      { type: 'synced' },
      { type: 'ping', time: 7 },
      { type: 'taken', digest: D1, piece: 3 },
    ];
    for (const message of messages) {
      const parsed = parseMessage(toWire(message));
      assert.deepEqual(JSON.parse(JSON.stringify(parsed)), JSON.parse(JSON.stringify(message)), message.type);
    }
  });

  test('keys travel as CID strings, not digests', () => {
    const body = Buffer.from(toWire({ type: 'have', blobs: [{ digest: D1, size: 3 }] })).toString();
    assert.equal(body, JSON.stringify({ type: 'have', blobs: [[K1, 3]] }));
  });

  test('frames are varint length + body, and oversized messages are refused at encode', () => {
    const frame = encodeFrame({ type: 'synced' });
    assert.equal(frame[0], frame.byteLength - 1);
    const huge = Array.from({ length: MAX_BATCH + 1 }, () => D1);
    assert.throws(() => parseMessage(toWire({ type: 'want', digests: huge })), ProtocolViolation);
  });

  test('unknown message types are ignored (a newer peer may speak more)', () => {
    assert.equal(parseMessage(wire({ type: 'gossip-v2', x: 1 })), undefined);
  });

  const violations: Array<[string, unknown]> = [
    ['not JSON', null],
    ['array', []],
    ['no type', { blobs: [] }],
    ['hello without time', { type: 'hello', version: 1 }],
    ['hello negative time', { type: 'hello', version: 1, time: -1 }],
    ['hello bad port', { type: 'hello', version: 1, time: 1, dataPort: 70000 }],
    ['hello url with path', { type: 'hello', version: 1, time: 1, dataUrl: 'http://10.0.0.1:5001/steal' }],
    ['hello url with user', { type: 'hello', version: 1, time: 1, dataUrl: 'http://u:p@10.0.0.1:5001' }],
    ['hello url other scheme', { type: 'hello', version: 1, time: 1, dataUrl: 'file:///etc/passwd' }],
    ['have not array', { type: 'have', blobs: 'x' }],
    ['have bad key', { type: 'have', blobs: [['sha256:abc', 1]] }],
    ['have fractional size', { type: 'have', blobs: [[K1, 1.5]] }],
    ['have huge size', { type: 'have', blobs: [[K1, 2 ** 60]] }],
    ['have string size', { type: 'have', blobs: [[K1, '1']] }],
    ['withdrawn bad key', { type: 'withdrawn', keys: [42] }],
    ['progress short bitfield', { type: 'progress', key: K1, size: 100, pieceSize: 10, bitfield: '' }],
    ['progress spare bits set', { type: 'progress', key: K1, size: 10, pieceSize: 5, bitfield: Buffer.from([0xff]).toString('base64') }],
    ['progress zero piece size', { type: 'progress', key: K1, size: 10, pieceSize: 0, bitfield: 'AA==' }],
    ['progress not base64', { type: 'progress', key: K1, size: 10, pieceSize: 5, bitfield: '!!' }],
    ['progress done not base64', { type: 'progress', key: K1, size: 10, pieceSize: 5, bitfield: 'gA==', done: 42 }],
    ['progress done of another length', { type: 'progress', key: K1, size: 10, pieceSize: 5, bitfield: 'gA==', done: 'gAA=' }],
    ['progress done names a piece not held', { type: 'progress', key: K1, size: 10, pieceSize: 5, bitfield: 'gA==', done: 'QA==' }],
    ['tag bad repository', { type: 'tag', tags: [{ repository: 'UPPER/case', tag: 'x', key: K1, timestamp: 1, origin: ORIGIN }] }],
    ['tag bad tag', { type: 'tag', tags: [{ repository: 'a/b', tag: '-x', key: K1, timestamp: 1, origin: ORIGIN }] }],
    ['peers bad id', { type: 'peers', peers: [{ peerId: 'x', addresses: [] }] }],
    ['peers too many addresses', { type: 'peers', peers: [{ peerId: ORIGIN, addresses: Array(9).fill('/ip4/1.2.3.4/tcp/1') }] }],
    ['peers address not a multiaddr string', { type: 'peers', peers: [{ peerId: ORIGIN, addresses: ['http://x'] }] }],
    ['tag bad origin', { type: 'tag', tags: [{ repository: 'a/b', tag: 'x', key: K1, timestamp: 1, origin: 'me' }] }],
    ['tag deleted not true', { type: 'tag', tags: [{ repository: 'a/b', tag: 'x', key: K1, timestamp: 1, origin: ORIGIN, deleted: 'yes' }] }],
    ['taken without a piece', { type: 'taken', key: K1 }],
    ['taken negative piece', { type: 'taken', key: K1, piece: -1 }],
    ['taken piece past any blob', { type: 'taken', key: K1, piece: 2 ** 20 }],
    ['taken bad key', { type: 'taken', key: 'sha256:abc', piece: 0 }],
    ['tag pushed not a boolean', { type: 'tag', tags: [{ repository: 'a/b', tag: 'x', key: K1, timestamp: 1, origin: ORIGIN, pushed: 1 }] }],
  ];
  for (const [what, value] of violations) {
    test(`violation: ${what}`, () => {
      const body = value === null ? Buffer.from('{"type":"have",') : wire(value);
      assert.throws(() => parseMessage(body), ProtocolViolation);
    });
  }

  test('tag repositories may carry a registry host', () => {
    for (const repository of ['registry.example.com/org/app', 'localhost:5001/app', 'library/nginx']) {
      const parsed = parseMessage(wire({ type: 'tag', tags: [{ repository, tag: 'v1', key: K1, timestamp: 1, origin: ORIGIN }] }));
      assert.equal(parsed?.type, 'tag');
    }
  });

  test('random JSON never throws anything but ProtocolViolation', () => {
    fc.assert(
      fc.property(fc.record({ type: fc.constantFrom('hello', 'have', 'withdrawn', 'progress', 'want', 'tag', 'ping'), blobs: fc.jsonValue(), keys: fc.jsonValue(), tags: fc.jsonValue(), time: fc.jsonValue(), key: fc.jsonValue(), size: fc.jsonValue(), bitfield: fc.jsonValue() }), (value) => {
        try {
          parseMessage(wire(value));
        } catch (err) {
          assert.ok(err instanceof ProtocolViolation, String(err));
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('piece bitfields', () => {
  test('indexes ⇄ bitfield round trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 300 }), fc.array(fc.nat()), (size, pieceSize, picks) => {
        const count = Math.ceil(size / pieceSize);
        const indexes = [...new Set(picks.map((p) => p % count))].sort((a, b) => a - b);
        const pieces = piecesFromIndexes(size, pieceSize, indexes);
        assert.equal(piecesProblem(size, pieces), undefined);
        assert.deepEqual(heldPieces(pieces, size), indexes);
        for (const i of indexes) assert.ok(hasPiece(pieces, i));
      }),
    );
  });

  test('a 2 GiB layer in 1 MiB pieces is a 256-byte bitfield', () => {
    assert.equal(piecesFromIndexes(2 ** 31, 2 ** 20, []).bitfield.byteLength, 256);
    assert.throws(() => piecesFromIndexes(10, 5, [2]), RangeError);
  });
});
