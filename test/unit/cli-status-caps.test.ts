import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderStatus } from '../../src/cli/status.ts';
import type { NodeStatus } from '../../src/cli/daemon-client.ts';

const base: NodeStatus = {
  node: { version: '1', startedAt: new Date(0).toISOString(), now: 1_000, listen: '127.0.0.1:5000', dataDir: '/d', blobs: 0, storedBytes: 0 },
  upstreams: [], tlsSkipVerify: [], swarm: { enabled: true, mdns: true, clusterKey: false, open: true }, peers: [],
  transfers: { bytesFromSeed: 0, bytesFromPeers: 0, bytesServedToPeers: 0, blobsFetched: 0, blobsFailed: 0, verificationFailures: 0 },
  neighbour: {
    caps: { upload: { limit: 6_250_000, rate: 1_500_000 }, download: { limit: 0, rate: 0 }, seed: { limit: 12_500_000, rate: 0 } },
    serving: 3, maxPeerServes: 16, rangeFetch: 'range-only',
  },
  inflight: [], images: [],
};

test('shoal status shows each cap with the rate now against it, and the piece requests served', () => {
  const text = renderStatus(base);
  assert.match(text, /caps +upload 12\.0 Mbit\/s of 50\.0 Mbit\/s, download 0\.0 Mbit\/s \(no cap\), from seed 0\.0 Mbit\/s of 100\.0 Mbit\/s/);
  assert.match(text, /serving 3 of at most 16 piece requests; Range reads: range-only/);
});

test('shoal status of a daemon older than the caps leaves them out', () => {
  const { neighbour: _omitted, ...older } = base;
  assert.doesNotMatch(renderStatus(older as NodeStatus), /caps/);
});
