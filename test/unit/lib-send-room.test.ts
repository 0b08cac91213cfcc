// The send room: grants up to its limit, first come first served; a request larger than the room
// passes alone; a grant pending past the stall time stops counting, so a stalled client cannot
// hold everyone else back, as long as the write-off budget lasts (then only past the long stall
// time); a grant given back twice counts once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SendRoom } from '../../src/lib/send-room.ts';

const KiB = 1024;

describe('send room', () => {
  it('grants up to its limit, then serves the waiting in order as bytes come back', async () => {
    const room = new SendRoom(100 * KiB, 60_000);
    const a = room.tryTake(60 * KiB);
    const b = room.tryTake(40 * KiB);
    assert.ok(a && b);
    assert.equal(room.tryTake(1), undefined, 'full');
    const order: string[] = [];
    const c = room.take(50 * KiB).then((grant) => (order.push('c'), grant));
    const d = room.take(10 * KiB).then((grant) => (order.push('d'), grant));
    assert.equal(room.tryTake(1), undefined, 'nobody passes the waiting');
    b.release();
    await sleep(5);
    assert.deepEqual(order, [], 'c waits for 50 KiB though d would fit: first come first served');
    a.release();
    a.release();
    const [gc, gd] = await Promise.all([c, d]);
    assert.deepEqual(order, ['c', 'd']);
    assert.equal(room.used, 60 * KiB, 'a second release of the same grant counts once');
    gc.release();
    gd.release();
    assert.equal(room.used, 0);
  });

  it('lets a request larger than the whole room pass once nothing else is held', async () => {
    const room = new SendRoom(64 * KiB, 60_000);
    const small = room.tryTake(KiB)!;
    const big = room.take(1024 * KiB);
    small.release();
    const grant = await big;
    assert.equal(room.used, 1024 * KiB);
    grant.release();
  });

  it('stops counting a grant pending past the stall time, so the waiting go on', async () => {
    const room = new SendRoom(64 * KiB, 50);
    const stalled = room.tryTake(64 * KiB)!;
    const next = await room.take(64 * KiB);
    assert.equal(room.used, 64 * KiB, 'only the new grant counts');
    stalled.release();
    assert.equal(room.used, 64 * KiB, 'the written-off grant given back late changes nothing');
    next.release();
    assert.equal(room.used, 0);
  });

  it('writes off no more than its budget: past it a stalled grant keeps counting until given back', async () => {
    const room = new SendRoom(64 * KiB, 20, 64 * KiB, 600_000);
    const first = room.tryTake(64 * KiB)!;
    const second = await room.take(64 * KiB);
    assert.equal(room.writtenOff, 64 * KiB, 'the first is written off: the budget is full');
    let third = false;
    const waiting = room.take(64 * KiB).then((grant) => ((third = true), grant));
    await sleep(200);
    assert.equal(third, false, 'the second, stalled too, still counts: no room for the third');
    assert.equal(room.used, 64 * KiB);
    first.release();
    assert.equal(room.writtenOff, 0, 'the first written-off grant given back frees its budget');
    const grant = await waiting;
    assert.equal(room.writtenOff, 64 * KiB, 'then the second is written off and the third goes on');
    second.release();
    grant.release();
    assert.equal(room.used, 0);
    assert.equal(room.writtenOff, 0);
  });

  it('writes off past the long stall time whatever the budget', async () => {
    const room = new SendRoom(64 * KiB, 20, 0, 100);
    const stalled = room.tryTake(64 * KiB)!;
    const next = await room.take(64 * KiB);
    assert.equal(room.writtenOff, 64 * KiB);
    stalled.release();
    next.release();
    assert.equal(room.used, 0);
  });
});
