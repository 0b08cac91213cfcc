// A daemon's figures, read from its status snapshot (GET /_shoal/status on its loopback registry
// listener, the JSON `shoal status` prints) from inside its host.
import type { NodeStatus } from '../../../src/daemon/status.ts';
import type { TestHost } from '../netns.ts';
import { LOCAL_REGISTRY } from './constants.ts';
import { curlIn } from './host-client.ts';

export type { NodeStatus };

export interface NodeFigures {
  /** Blob bytes this node got from the seed. */
  readonly seedBytes: number;
  /** Blob bytes it got from peers. */
  readonly peerReceivedBytes: number;
  /** Blob bytes it served to peers (its upload share of a fan-out). */
  readonly peerServedBytes: number;
  /** Connected peers. */
  readonly peers: number;
  readonly verificationFailures: number;
  /** Bytes received from each connected peer, by peer id (a peer that left is no longer listed). */
  readonly receivedFrom: ReadonlyMap<string, number>;
  /** Bytes served to each connected peer, by peer id. */
  readonly servedTo: ReadonlyMap<string, number>;
  /** The whole snapshot. */
  readonly status: NodeStatus;
}

export function figuresOf(status: NodeStatus): NodeFigures {
  const { transfers, peers } = status;
  return {
    seedBytes: transfers.bytesFromSeed,
    peerReceivedBytes: transfers.bytesFromPeers,
    peerServedBytes: transfers.bytesServedToPeers,
    peers: peers.length,
    verificationFailures: transfers.verificationFailures,
    receivedFrom: new Map(peers.map((p) => [p.peerId, p.bytesReceived])),
    servedTo: new Map(peers.map((p) => [p.peerId, p.bytesServed])),
    status,
  };
}

/** The daemon's status snapshot; `context` (e.g. its log tail) goes into the error when it does not answer. */
export async function readStatus(host: TestHost, context: () => string = () => ''): Promise<NodeStatus> {
  const url = `${LOCAL_REGISTRY}/_shoal/status`;
  const { status, body } = await curlIn(host, url, { headers: { accept: 'application/json' } });
  if (status !== 200) throw new Error(`GET ${url} on ${host.name} answered ${status}: ${body}\n${context()}`);
  return JSON.parse(body) as NodeStatus;
}

/** What `after` adds to `before`, per figure; for the per-peer maps, only peers that grew. */
export function figuresDelta(before: NodeFigures, after: NodeFigures): Omit<NodeFigures, 'status' | 'peers'> {
  const grown = (was: ReadonlyMap<string, number>, now: ReadonlyMap<string, number>) =>
    new Map([...now].map(([peer, bytes]) => [peer, bytes - (was.get(peer) ?? 0)] as const).filter(([, bytes]) => bytes > 0));
  return {
    seedBytes: after.seedBytes - before.seedBytes,
    peerReceivedBytes: after.peerReceivedBytes - before.peerReceivedBytes,
    peerServedBytes: after.peerServedBytes - before.peerServedBytes,
    verificationFailures: after.verificationFailures - before.verificationFailures,
    receivedFrom: grown(before.receivedFrom, after.receivedFrom),
    servedTo: grown(before.servedTo, after.servedTo),
  };
}
