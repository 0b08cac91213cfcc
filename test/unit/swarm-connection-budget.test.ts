// The connection budget's neighbour limit follows the swarm's size as the host knows it: every
// member while they all fit under the cap (a full mesh needs no reserve), the cap less the reserve
// once the swarm outgrows it, and then the newest neighbours past that limit are let go.
import assert from 'node:assert/strict';
import type { Connection } from '@libp2p/interface';
import { describe, test } from 'node:test';
import { ConnectionBudget } from '../../src/swarm/connection-budget.ts';
import { refusedOutright } from '../../src/swarm/connections.ts';

/** What the budget reads of a connection: its peer, when it opened, its state. */
function connection(peer: string, openedAt: number): Connection {
  const remotePeer = { toString: () => peer, equals: (other: { toString(): string }) => other.toString() === peer };
  return { remotePeer, timeline: { open: openedAt }, status: 'open', direction: 'outbound' } as unknown as Connection;
}

function budgetWith(open: Connection[], members: number): ConnectionBudget {
  const budget = new ConnectionBudget({ selfId: 'self', cap: 64, reserve: 24, open: () => open, now: () => 1_000_000 });
  for (let i = 0; i < members; i++) budget.sighted(`peer-${i}`);
  return budget;
}

describe('connection budget: the neighbour limit and the swarm’s size', () => {
  test('64 hosts under a cap of 64: every other host is a neighbour (a full mesh), none is temporary', () => {
    const open = Array.from({ length: 50 }, (_, i) => connection(`peer-${i}`, i));
    const budget = budgetWith(open, 63);
    assert.equal(budget.neighbourLimit(), 64);
    assert.equal(budget.roomForNeighbour(0), true, 'room past the cap less the reserve (40)');
    assert.equal(budget.roomForTopUp(0, 63), true);
    const inbound = connection('peer-50', 50);
    open.push(inbound);
    assert.equal(budget.opened(inbound, false), true);
    assert.equal(budget.passing('peer-50'), false, 'an inbound connection is a neighbour, not let go after the grace period');
  });

  test('a swarm larger than the cap: neighbours up to the cap less the reserve, later ones temporary', () => {
    const open = Array.from({ length: 40 }, (_, i) => connection(`peer-${i}`, i));
    const budget = budgetWith(open, 127);
    assert.equal(budget.neighbourLimit(), 40);
    assert.equal(budget.roomForNeighbour(0), false);
    const inbound = connection('peer-40', 40);
    open.push(inbound);
    budget.opened(inbound, false);
    assert.equal(budget.passing('peer-40'), true);
  });

  test('when the swarm outgrows the cap, the newest neighbours past the limit are let go, members asked as owners kept', () => {
    const open = Array.from({ length: 63 }, (_, i) => connection(`peer-${i}`, i));
    const budget = budgetWith(open, 63);
    assert.deepEqual(budget.expired().close, [], 'a full mesh under the cap keeps everyone');
    budget.keep(['peer-62'], 60_000);
    budget.sighted('peer-63');
    const closed = budget.expired().close.map((c) => c.remotePeer.toString());
    assert.equal(closed.length, 63 - 40);
    assert.ok(!closed.includes('peer-62'), 'a committee member this host asks stays');
    assert.deepEqual(closed.sort(), Array.from({ length: 23 }, (_, i) => `peer-${61 - i}`).sort(), 'the newest go first');
  });

  test('without a cap there is no limit', () => {
    const budget = new ConnectionBudget({ selfId: 'self', cap: undefined, reserve: 0, open: () => [] });
    assert.equal(budget.neighbourLimit(), Infinity);
  });
});

test('a member whose every address refuses the connection is no longer counted; one that is merely full still is', () => {
  const budget = new ConnectionBudget({ selfId: 'self', cap: 8, reserve: 2, open: () => [] });
  for (const peer of ['gone', 'full']) {
    budget.sighted(peer);
    budget.named(peer);
  }
  const refused = (port: number) => Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:${port}`), { code: 'ECONNREFUSED' });
  const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  for (const [peer, error] of [['gone', new AggregateError([refused(1), refused(2)], 'All multiaddr dials failed')], ['full', reset]] as const) {
    if (refusedOutright(error)) budget.departed(peer);
  }
  assert.deepEqual([...budget.heardOf()], ['full']);
  assert.equal(budget.known, 1);
  assert.equal(refusedOutright(new AggregateError([refused(1), reset])), false, 'one address still answering: not gone');
  assert.equal(refusedOutright(new AggregateError([refused(1), 'thrown, not an Error'])), false, 'something other than a refusal thrown: not known to be gone');
});

test('owner committees are ranked among members only: a host discovery found that never spoke the swarm\'s protocol nor was named by a member is not one', () => {
  const budget = new ConnectionBudget({ selfId: 'self', cap: 8, reserve: 2, open: () => [] });
  budget.sighted('other-cluster');
  budget.sighted('spoke');
  budget.heard('spoke');
  budget.named('introduced');
  budget.named('self');
  assert.equal(budget.known, 2, 'the swarm size counts what discovery found');
  assert.deepEqual([...budget.heardOf()].sort(), ['introduced', 'spoke']);
});

test('another host\'s lookups (inbound, no hello) fill no neighbour slot: a host short of neighbours still dials, and keeps the one it found', () => {
  const lookup = (peer: string, openedAt: number): Connection => ({ ...connection(peer, openedAt), remotePeer: connection(peer, openedAt).remotePeer, direction: 'inbound' }) as unknown as Connection;
  // 16 hosts under a cap of 10 (reserve 5: 5 neighbours): 2 neighbours, 3 lookups from others.
  const open = [connection('n1', 1), connection('n2', 2), lookup('l1', 3), lookup('l2', 4), lookup('l3', 5)];
  const speaking = new Set(['n1', 'n2']);
  const budget = new ConnectionBudget({ selfId: 'self', cap: 10, reserve: 5, open: () => open, speaksWith: (peer) => speaking.has(peer), now: () => 1_000_000 });
  for (let i = 0; i < 15; i++) budget.sighted(`peer-${i}`);
  assert.equal(budget.neighbourLimit(), 5);
  assert.equal(budget.roomForTopUp(0, 15), true, 'short of neighbours (2 of 5): it dials');
  assert.equal(budget.roomForNeighbour(0), true);
  const found = connection('n3', 6);
  open.push(found);
  assert.equal(budget.opened(found, true), true);
  speaking.add('n3');
  assert.deepEqual(budget.expired().close, [], 'the neighbour it found is not let go as past the limit');
  // An inbound neighbour (it said hello) counts like any other.
  open.push(lookup('n4', 7), lookup('n5', 8));
  speaking.add('n4').add('n5');
  assert.equal(budget.roomForNeighbour(0), false, '5 neighbours: the limit');
});

test('a short host\'s own lookups (outbound, opened by the DHT, not the dialer) fill no neighbour slot: it is still short, dials, and keeps a host with room that dialled it', () => {
  // 16 hosts under a cap of 10 (5 neighbours): 2 neighbours, and 3 lookups of its own just opened.
  // Counted as neighbours (any outbound connection under 3 s was), they made the 15th host look
  // not short and let go the hosts with room that dialled it (swarm-committee, bench/scale/formation.ts).
  const justNow = Date.now();
  const open = [connection('n1', 1), connection('n2', 2), connection('l1', justNow), connection('l2', justNow), connection('l3', justNow)];
  const speaking = new Set(['n1', 'n2']);
  let now = 1_000_000;
  const budget = new ConnectionBudget({ selfId: 'self', cap: 10, reserve: 5, open: () => open, speaksWith: (peer) => speaking.has(peer), now: () => now });
  for (let i = 0; i < 15; i++) budget.sighted(`peer-${i}`);
  for (const lookup of open.slice(2)) budget.opened(lookup, false);
  assert.equal(budget.short(), true, '2 neighbours of 5: short');
  assert.equal(budget.roomForTopUp(0, 15), true, 'it tops up');
  const withRoom = { ...connection('r1', justNow), remotePeer: connection('r1', justNow).remotePeer, direction: 'inbound' } as unknown as Connection;
  open.push(withRoom);
  budget.opened(withRoom, false);
  speaking.add('r1');
  now += 5_000;
  const { close, stay } = budget.expired();
  assert.ok(!close.includes(withRoom), 'the host with room that dialled it is not let go');
  assert.deepEqual(stay.filter((p) => p === 'r1'), ['r1']);
});

test('a host\'s own neighbour dials count as neighbours for a moment (no dialling past the limit), but are never let go before they could say hello', () => {
  const justNow = Date.now();
  const open = [connection('n1', 1)];
  const speaking = new Set(['n1']);
  const budget = new ConnectionBudget({ selfId: 'self', cap: 10, reserve: 5, open: () => open, speaksWith: (peer) => speaking.has(peer), now: () => 1_000_000 });
  for (let i = 0; i < 15; i++) budget.sighted(`peer-${i}`);
  // Six dials at once (a top-up round and a peer-exchange list): more than the 4 slots left.
  for (let i = 0; i < 6; i++) {
    const dial = connection(`d${i}`, justNow + i);
    open.push(dial);
    budget.opened(dial, true);
  }
  assert.equal(budget.roomForNeighbour(0), false, 'fresh dials fill the slots');
  assert.deepEqual(budget.expired().close, [], 'none let go before its hello: a host with room among them would be lost');
  for (let i = 0; i < 6; i++) speaking.add(`d${i}`);
  assert.equal(budget.expired().close.length, 2, 'once they said hello, the newest past the limit go');
});

test('a full host lets a knock go as soon as its hello ends without an ask, not after the 3 s a lookup gets', () => {
  const open = ['n1', 'n2', 'n3', 'n4', 'n5'].map((peer, i) => connection(peer, i));
  const speaking = new Set(['n1', 'n2', 'n3', 'n4', 'n5']);
  const budget = new ConnectionBudget({ selfId: 'self', cap: 10, reserve: 5, open: () => open, speaksWith: (peer) => speaking.has(peer), now: () => 1_000_000 });
  for (let i = 0; i < 15; i++) budget.sighted(`peer-${i}`);
  const knock = { ...connection('k1', Date.now()), remotePeer: connection('k1', 0).remotePeer, direction: 'inbound' } as unknown as Connection;
  const lookup = { ...connection('l1', Date.now()), remotePeer: connection('l1', 0).remotePeer, direction: 'inbound' } as unknown as Connection;
  open.push(knock, lookup);
  budget.opened(knock, false);
  budget.opened(lookup, false);
  assert.equal(budget.passing('k1'), true);
  speaking.add('k1');
  budget.heard('k1', 'hello');
  assert.deepEqual(budget.expired().close, [], 'mid-hello (an ask may follow) it stays');
  budget.heard('k1', 'synced');
  assert.deepEqual(budget.expired().close, [knock], 'its hello is over: a full host lets it go now; the lookup keeps its 3 s');
});

test('a short host asks the peers it dials to keep it; a host at its limit answers within the reserve, so a newcomer to a swarm where every host is full finds room', () => {
  // The newcomer: 2 neighbours of 5 in a 16-host swarm under a cap of 10, dialling a full host.
  const justNow = Date.now();
  const mine = [connection('n1', 1), connection('n2', 2)];
  const newcomer = new ConnectionBudget({ selfId: 'new', cap: 10, reserve: 5, open: () => mine, speaksWith: (peer) => peer.startsWith('n'), now: () => 1_000_000 });
  for (let i = 0; i < 15; i++) newcomer.sighted(`peer-${i}`);
  const dial = connection('full', justNow);
  mine.push(dial);
  newcomer.opened(dial, true);
  assert.equal(newcomer.asking('full'), true, 'short (its fresh dial not counted): its hello asks');
  assert.equal(newcomer.asking('n1'), false, 'not a peer it just dialled');
  mine.push(connection('n3', 3));
  assert.equal(newcomer.asking('full'), false, 'with 3 neighbours it no longer asks');
  // The full host: 5 neighbours (its limit) and the newcomer's knock.
  const theirs = ['a', 'b', 'c', 'd', 'e'].map((peer, i) => connection(peer, i));
  const full = new ConnectionBudget({ selfId: 'full', cap: 10, reserve: 5, open: () => theirs, speaksWith: () => true, now: () => 1_000_000 });
  for (let i = 0; i < 15; i++) full.sighted(`peer-${i}`);
  const knock = { ...connection('new', justNow), remotePeer: connection('new', 0).remotePeer, direction: 'inbound' } as unknown as Connection;
  theirs.push(knock);
  full.opened(knock, false);
  assert.equal(full.answer('new', 60_000), true, 'answered: 6 connections, within the cap less the lookups\' share');
  full.heard('new', 'synced');
  assert.deepEqual(full.expired().close, [], 'kept, not let go as a knock');
});

test('a newcomer that knows few members (its bootstrap hosts were full) asks too: being short does not wait for it to hear of the whole swarm', () => {
  const mine = [connection('n1', 1), connection('n2', 2)];
  const newcomer = new ConnectionBudget({ selfId: 'new', cap: 10, reserve: 5, open: () => mine, speaksWith: (peer) => peer.startsWith('n'), now: () => 1_000_000 });
  for (const peer of ['n1', 'n2', 'full', 'other']) newcomer.sighted(peer);
  const dial = connection('full', Date.now());
  mine.push(dial);
  newcomer.opened(dial, true);
  assert.equal(newcomer.asking('full'), true);
});
