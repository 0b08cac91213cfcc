// Validation of bootstrap multiaddrs. A module of its own because it needs libp2p's multiaddr and
// peer-id packages: the schema imports it only when a bootstrap address is actually configured,
// so `--help`, `shoal config` and most start-ups load neither.
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { BOOTSTRAP_EXAMPLE, InvalidValueError } from './parse.ts';
const HOST_PROTOCOLS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6']);

/**
 * Throws InvalidValueError unless `raw` is a multiaddr shoal can dial and authenticate:
 * `/<ip4|ip6|dns|dns4|dns6>/<host>/tcp/<port>/p2p/<peer id>`. The peer id is required because
 * libp2p checks it in the handshake: without it anyone answering at that address would be trusted.
 */
export function checkBootstrapAddress(raw: string): void {
  let address: Multiaddr;
  try {
    address = multiaddr(raw);
  } catch (error) {
    throw new InvalidValueError(`expected a multiaddr such as ${BOOTSTRAP_EXAMPLE}; ${firstLine(error)}`);
  }
  const components = address.getComponents();
  const last = components.at(-1);
  if (last?.name !== 'p2p' || last.value === undefined) {
    throw new InvalidValueError(`expected a multiaddr ending in /p2p/<peer id> such as ${BOOTSTRAP_EXAMPLE} (the peer id names the host to trust)`);
  }
  try {
    peerIdFromString(last.value);
  } catch {
    throw new InvalidValueError(`expected a multiaddr ending in /p2p/<peer id> such as ${BOOTSTRAP_EXAMPLE}; "${last.value}" is not a peer id`);
  }
  const [host, transport] = components;
  if (components.length !== 3 || !HOST_PROTOCOLS.has(host?.name ?? '') || transport?.name !== 'tcp') {
    throw new InvalidValueError(`expected /ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>/p2p/<peer id> such as ${BOOTSTRAP_EXAMPLE}: shoal dials peers over TCP`);
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}
