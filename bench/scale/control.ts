// Who tells whom, and what it costs. Frame sizes come from the real encoder (protocol.ts
// encodeFrame: JSON body with CID keys and a varint length), so a progress message is exactly as
// long as shoal sends it; transport framing (yamux 12 B, noise 18 B per frame) is not added.
import { encodeFrame, type Message } from '../../src/swarm/protocol.ts';
import { piecesFromIndexes } from '../../src/swarm/index.ts';

export type ControlKind = 'want' | 'progress' | 'load' | 'have' | 'unwant' | 'dht';

export interface ControlCount {
  sentFrames: number;
  sentBytes: number;
  receivedFrames: number;
  receivedBytes: number;
  /** Frames written, by kind. */
  readonly byKind: Record<ControlKind, number>;
  /** Messages sent (one per broadcast, whatever the fan-out), by kind. */
  readonly messages: Record<ControlKind, number>;
}

export function emptyCount(): ControlCount {
  return { sentFrames: 0, sentBytes: 0, receivedFrames: 0, receivedBytes: 0, byKind: kinds(), messages: kinds() };
}

function kinds(): Record<ControlKind, number> {
  return { want: 0, progress: 0, load: 0, have: 0, unwant: 0, dht: 0 };
}

/** Frame lengths of the messages one blob's fetch makes a host send, by the real encoder. */
export class FrameSizes {
  readonly want: number;
  readonly unwant: number;
  readonly have: number;
  readonly #progress = new Map<number, number>();
  readonly #ping = new Map<number, number>();
  readonly #digest: string;
  readonly #size: number;
  readonly #pieceSize: number;

  constructor(digest: string, size: number, pieceSize: number) {
    this.#digest = digest;
    this.#size = size;
    this.#pieceSize = pieceSize;
    this.want = bytes({ type: 'want', digests: [digest] });
    this.unwant = bytes({ type: 'unwant', digests: [digest] });
    this.have = bytes({ type: 'have', blobs: [{ digest, size }] });
  }

  /** A progress frame carrying `load` (the bitfield's length depends only on the piece count). */
  progress(load: number): number {
    let n = this.#progress.get(load);
    if (n === undefined) {
      const pieces = piecesFromIndexes(this.#size, this.#pieceSize, []);
      n = bytes({ type: 'progress', digest: this.#digest, size: this.#size, pieces, load });
      this.#progress.set(load, n);
    }
    return n;
  }

  /** The ping that reports a load change (AnnouncingSwarm.reportLoad), with a 13-digit epoch-ms time. */
  ping(load: number): number {
    let n = this.#ping.get(load);
    if (n === undefined) this.#ping.set(load, (n = bytes({ type: 'ping', time: 1_700_000_000_000, load })));
    return n;
  }
}

function bytes(message: Message): number {
  return encodeFrame(message).byteLength;
}
