import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Fetcher } from '../distribute/fetcher.ts';
import type { TransferStats } from '../distribute/transfer-stats.ts';
import type { SwarmApi } from '../swarm/index.ts';

/**
 * Prometheus metrics read from the live counters at scrape time (collect callbacks), so the hot
 * paths only bump plain numbers.
 */
export function createMetrics(stats: TransferStats, fetcher: Fetcher, swarm: SwarmApi | undefined): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'shoal_' });
  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };
  counter('shoal_seed_bytes_total', 'Blob bytes received from the seed registries', () => stats.bytesFromSeed);
  counter('shoal_peer_received_bytes_total', 'Blob bytes received from peers', () => stats.bytesFromPeers);
  counter('shoal_peer_served_bytes_total', 'Blob bytes served to peers', () => stats.bytesServedToPeers);
  counter('shoal_blobs_fetched_total', 'Blobs fetched, verified and committed', () => stats.blobsFetched);
  counter('shoal_blob_fetch_failures_total', 'Blob fetches that failed', () => stats.blobsFailed);
  counter('shoal_verification_failures_total', 'Assembled blobs whose digest did not match', () => stats.verificationFailures);
  new Counter({
    name: 'shoal_peer_bytes_total',
    help: 'Blob bytes exchanged with each peer',
    labelNames: ['peer', 'direction'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [peer, bytes] of stats.fromPeer) this.inc({ peer, direction: 'received' }, bytes);
      for (const [peer, bytes] of stats.toPeer) this.inc({ peer, direction: 'served' }, bytes);
    },
  });
  new Gauge({
    name: 'shoal_inflight_fetches',
    help: 'Blobs being fetched now',
    registers: [registry],
    collect() {
      this.set(fetcher.inflightCount);
    },
  });
  new Gauge({
    name: 'shoal_peers',
    help: 'Connected peers',
    registers: [registry],
    collect() {
      this.set(swarm?.peers().length ?? 0);
    },
  });
  return registry;
}
