/** Byte counters of where blob bytes came from and went, for logs, /metrics and the status page. */
export class TransferStats {
  bytesFromSeed = 0;
  bytesFromPeers = 0;
  bytesServedToPeers = 0;
  blobsFetched = 0;
  blobsFailed = 0;
  verificationFailures = 0;
  readonly fromPeer = new Map<string, number>();
  readonly toPeer = new Map<string, number>();

  receivedFromSeed(bytes: number): void {
    this.bytesFromSeed += bytes;
  }

  receivedFromPeer(peerId: string, bytes: number): void {
    this.bytesFromPeers += bytes;
    this.fromPeer.set(peerId, (this.fromPeer.get(peerId) ?? 0) + bytes);
  }

  servedToPeer(peer: string, bytes: number): void {
    this.bytesServedToPeers += bytes;
    this.toPeer.set(peer, (this.toPeer.get(peer) ?? 0) + bytes);
  }
}
