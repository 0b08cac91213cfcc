// The neighbour limit's split between dials and inbound connections, on the budget alone: a host
// dials fewer than half its neighbours, so hosts that only know each other (the first to start)
// cannot fill each other up and leave no room for the rest of the swarm.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Connection } from '@libp2p/interface';
import { ConnectionBudget, committeeReserve, outboundLimit } from '../../src/swarm/connection-budget.ts';

function connection(peer: string, direction: 'inbound' | 'outbound'): Connection {
  const remotePeer = { toString: () => peer, equals: (other: { toString(): string }) => other.toString() === peer };
  return { remotePeer, direction, status: 'open' } as unknown as Connection;
}

describe('connection budget', () => {
  test('under half of the neighbours are dialled by the host itself, at least one', () => {
    assert.equal(outboundLimit(5), 2);
    assert.equal(outboundLimit(40), 19);
    assert.equal(outboundLimit(2), 1);
    assert.equal(outboundLimit(1), 1);
  });

  test('a host that dialled its share takes no more neighbour dials, but still accepts inbound neighbours', () => {
    const cap = 10;
    const reserve = committeeReserve(cap, 3);
    const neighbours = cap - reserve;
    const open: Connection[] = [];
    const budget = new ConnectionBudget({ cap, reserve, open: () => open });
    for (let i = 0; i < outboundLimit(neighbours); i++) {
      assert.ok(budget.roomForNeighbour(0), `dial ${i + 1}`);
      const c = connection(`out-${i}`, 'outbound');
      open.push(c);
      assert.ok(budget.opened(c, true));
    }
    assert.equal(budget.roomForNeighbour(0), false, 'no more dials of its own');
    const inbound = connection('newcomer', 'inbound');
    open.push(inbound);
    assert.ok(budget.opened(inbound, false));
    assert.equal(budget.passing('newcomer'), false, 'an inbound neighbour under the limit stays');
  });

  test('dials in flight count against the share', () => {
    const budget = new ConnectionBudget({ cap: 10, reserve: 5, open: () => [] });
    assert.ok(budget.roomForNeighbour(1));
    assert.equal(budget.roomForNeighbour(2), false);
  });
});
