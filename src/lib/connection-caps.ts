// Caps on the connections a listening server holds: in total and per remote address. A connection
// over a cap is closed at once, before any HTTP or TLS work is spent on it, so a host that opens
// thousands of idle connections cannot take the process's file descriptors (and with them every
// other listener and file it opens).
import type { Server, Socket } from 'node:net';
import { normaliseAddress } from './ip-address.ts';

export interface ConnectionCapsInit {
  /** Connections held at once in all; the next is closed by the listener itself (`maxConnections`). */
  readonly total: number;
  /** Connections held at once from one remote address. */
  readonly perAddress: number;
  /** Addresses the per-address cap does not apply to (they still count towards the total). */
  readonly exempt?: (address: string) => boolean;
  /** A connection was closed for being over a cap. Called for each one: rate-limit any logging. */
  readonly onRefused?: (refusal: ConnectionRefusal) => void;
}

export interface ConnectionRefusal {
  readonly cap: 'total' | 'per-address';
  /** The remote address, normalised (ip-address.ts); undefined when the socket did not say. */
  readonly address: string | undefined;
}

export interface ConnectionCaps {
  /** Connections held now from `address` (normalised or not), exempt addresses counted as 0. */
  from(address: string): number;
}

/** Applies the caps to `server` (plain net, http or https: the raw TCP socket is judged, before TLS). */
export function capConnections(server: Server, init: ConnectionCapsInit): ConnectionCaps {
  const open = new Map<string, number>();
  // Node closes the handle itself, before a Socket exists: the cheapest refusal there is.
  server.maxConnections = init.total;
  server.on('drop', (data?: { remoteAddress?: string }) => {
    init.onRefused?.({ cap: 'total', address: data?.remoteAddress === undefined ? undefined : normaliseAddress(data.remoteAddress) });
  });
  // First among the listeners: a socket refused here is destroyed before http or tls wraps it.
  server.prependListener('connection', (socket: Socket) => {
    if (socket.remoteAddress === undefined) return;
    const address = normaliseAddress(socket.remoteAddress);
    if (init.exempt?.(address) === true) return;
    const count = (open.get(address) ?? 0) + 1;
    if (count > init.perAddress) {
      socket.destroy();
      init.onRefused?.({ cap: 'per-address', address });
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
  return { from: (address) => open.get(normaliseAddress(address)) ?? 0 };
}
