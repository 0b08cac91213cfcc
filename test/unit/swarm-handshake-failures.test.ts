// A peer whose dials fail in the handshake (another cluster key, or none) is reported once, with
// what to check; refusals at connect (a full host) and a host that has other connections are not.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { failedInHandshake, HANDSHAKE_FAILURES_TO_WARN, HandshakeFailures, timedOut, WARN_AGAIN_MS } from '../../src/swarm/handshake-failures.ts';

/** The errors libp2p 3 gave on loopback (see handshake-failures.ts). */
function encryptionFailed(message: string): Error {
  const error = new Error(message);
  error.name = 'EncryptionFailedError';
  return error;
}
const wrongKey = () => encryptionFailed('read ECONNRESET');
const keylessToKeyed = () => encryptionFailed('The operation was aborted due to timeout');
const keyedToKeyless = () => new Error('read ECONNRESET');
const fullHost = () => Object.assign(new Error('connection error 127.0.0.1:4001: connect ECONNRESET 127.0.0.1:4001'), { code: 'ECONNRESET' });
const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4001'), { code: 'ECONNREFUSED' });
/** libp2p's dial timeout (AbortSignal.timeout's reason): a keyed host's dial of a keyless one whose nonce the other side reads as a long multistream message. */
const dialTimeout = () => new DOMException('The operation was aborted due to timeout', 'TimeoutError');

function setup(keyed = true) {
  let now = 1_000_000;
  let open = 0;
  const warned: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const failures = new HandshakeFailures({
    keyed,
    openConnections: () => open,
    now: () => now,
    log: { debug() {}, info() {}, warn: (fields, message) => warned.push({ fields: fields as Record<string, unknown>, message }) },
  });
  return { failures, warned, advance: (ms: number) => (now += ms), setOpen: (n: number) => (open = n) };
}

describe('handshake failures', () => {
  test('which failures are handshake failures', () => {
    for (const error of [wrongKey(), keylessToKeyed(), keyedToKeyless(), new AggregateError([refused(), wrongKey()], 'all dials failed')]) assert.equal(failedInHandshake(error), true, error.message);
    for (const error of [fullHost(), refused(), new Error('dial timed out'), new AggregateError([refused(), fullHost()], 'all dials failed')]) assert.equal(failedInHandshake(error), false, error.message);
  });

  test('warned after failures in a row, once per WARN_AGAIN_MS, with the peer, its addresses and the advice', () => {
    const { failures, warned, advance } = setup();
    for (let i = 1; i < HANDSHAKE_FAILURES_TO_WARN; i++) failures.dialFailed('peer-a', wrongKey(), ['/ip4/10.0.0.2/tcp/4001']);
    assert.equal(warned.length, 0, 'one failure (a host restarting mid-handshake) is not reported');
    failures.dialFailed('peer-a', wrongKey(), ['/ip4/10.0.0.2/tcp/4001']);
    assert.equal(warned.length, 1);
    assert.deepEqual(warned[0]!.fields.addresses, ['/ip4/10.0.0.2/tcp/4001']);
    assert.equal(warned[0]!.fields.peerId, 'peer-a');
    assert.match(warned[0]!.message, /another cluster key, or none.*shoal keygen/);
    assert.deepEqual(failures.failing(), [{ peerId: 'peer-a', addresses: ['/ip4/10.0.0.2/tcp/4001'] }]);
    for (let i = 0; i < 20; i++) failures.dialFailed('peer-a', wrongKey(), []);
    assert.equal(warned.length, 1, 'not repeated at every dial');
    advance(WARN_AGAIN_MS);
    failures.dialFailed('peer-a', wrongKey(), []);
    assert.equal(warned.length, 2, 'repeated after a while');
  });

  test('a keyless host is told to take the key', () => {
    const { failures, warned } = setup(false);
    for (let i = 0; i < HANDSHAKE_FAILURES_TO_WARN; i++) failures.dialFailed('peer-b', keylessToKeyed(), []);
    assert.match(warned[0]!.message, /runs with a cluster key and this one has none/);
  });

  test('a connection between failures starts the count over', () => {
    const { failures, warned } = setup();
    for (let i = 0; i < 5; i++) {
      for (let j = 1; j < HANDSHAKE_FAILURES_TO_WARN; j++) failures.dialFailed('peer-c', wrongKey(), []);
      failures.connected('peer-c');
    }
    assert.equal(warned.length, 0);
    assert.deepEqual(failures.failing(), []);
  });

  test('a dial timeout counts only when its connection had reached the peer, and only for that dial', () => {
    assert.equal(timedOut(dialTimeout()), true);
    assert.equal(timedOut(new AggregateError([refused(), dialTimeout()], 'all dials failed')), true);
    assert.equal(timedOut(wrongKey()), false);
    const { failures, warned, advance } = setup();
    for (let i = 0; i < 5; i++) failures.dialFailed('peer-g', dialTimeout(), []);
    assert.equal(warned.length, 0, 'a host that never answered (no route, no listener) is not a handshake failure');
    failures.reached('peer-g');
    assert.equal(failures.counts('peer-g', dialTimeout()), true);
    failures.dialFailed('peer-g', dialTimeout(), []);
    assert.equal(failures.counts('peer-g', dialTimeout()), false, 'the mark ends with its dial');
    failures.dialFailed('peer-g', dialTimeout(), []);
    assert.equal(warned.length, 0);
    failures.reached('peer-g');
    failures.dialFailed('peer-g', dialTimeout(), ['/ip4/10.0.0.7/tcp/4001']);
    assert.equal(warned.length, 1, 'two timeouts in the handshake: warned');
    failures.reached('peer-h');
    advance(60_000);
    assert.equal(failures.counts('peer-h', dialTimeout()), false, 'a mark older than any dial timeout is stale');
    failures.reached('peer-h');
    failures.connected('peer-h');
    assert.equal(failures.counts('peer-h', dialTimeout()), false, 'a connection ends the mark');
  });

  test('nothing while this host has other connections, nor for refusals at connect', () => {
    const { failures, warned, setOpen } = setup();
    setOpen(3);
    for (let i = 0; i < 10; i++) failures.dialFailed('peer-d', wrongKey(), []);
    setOpen(0);
    for (let i = 0; i < 10; i++) failures.dialFailed('peer-e', fullHost(), []);
    for (let i = 0; i < 10; i++) failures.dialFailed('peer-f', refused(), []);
    assert.equal(warned.length, 0);
    assert.deepEqual(failures.failing(), []);
  });
});
