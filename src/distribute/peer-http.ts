// The HTTP/1.1 client behind PeerClient: Range GETs to other shoal nodes' data planes, which
// always answer with a Content-Length. The client itself (lib/http1-client.ts) is shared with the
// seed's blob GETs; here it gets the peers' settings and takes its batches from the store's pool,
// which the piece engine writes to the blob as they are and gives back (write-batches.ts).
import type { Readable } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import { Http1Client } from '../lib/http1-client.ts';
import { batchHolds, receiveRoom, takeBatch } from '../store/write-batches.ts';

export interface PeerHttpInit {
  /** With a cluster key: every connection is TLS with these options. */
  readonly tls?: ConnectionOptions | undefined;
  readonly connectTimeoutMs: number;
  /** From the request to the end of the response head. */
  readonly headersTimeoutMs: number;
  /** Longest silence inside a body. */
  readonly bodyIdleMs: number;
  /** Body bytes passed on read by read (a range read's first bytes: range-first.ts) before batching starts. */
  readonly eagerBytes: number;
  /** Size of the batches the rest of a body is passed on in. */
  readonly batchBytes: number;
}

export interface PeerResponse {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: ReadonlyMap<string, string>;
  /** Exactly Content-Length bytes, in handed-over write batches: whoever writes one gives it back (releaseBatch). */
  readonly body: Readable;
}

export class PeerHttp {
  readonly #client: Http1Client;

  constructor(init: PeerHttpInit) {
    this.#client = new Http1Client({ ...init, takeBatch, holds: batchHolds, room: receiveRoom, label: 'the peer', requireLength: true });
  }

  /** GET `url` with `headers`; resolves once the response head arrived. */
  get(url: URL, headers: Readonly<Record<string, string>>, signal?: AbortSignal): Promise<PeerResponse> {
    return this.#client.get(url, headers, signal);
  }

  close(): void {
    this.#client.close();
  }
}
