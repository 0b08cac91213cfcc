// The one rule for a bootstrap address, used by the config check (at start-up, with the flag's
// name in the message) and by the swarm that dials it.
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';

const HOST_PROTOCOLS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6']);

/** What is wrong with an address, so that the config check can word it its own way. */
export type BootstrapProblem = 'not-a-multiaddr' | 'no-peer-id' | 'bad-peer-id' | 'not-tcp';

export class BootstrapAddressError extends Error {
  override name = 'BootstrapAddressError';
  readonly problem: BootstrapProblem;
  /** What is wrong, without the address. */
  readonly reason: string;
  /** The multiaddr parser's complaint, or the text that is not a peer id. */
  readonly detail: string;

  constructor(address: string, problem: BootstrapProblem, reason: string, detail = '') {
    super(`bootstrap address ${JSON.stringify(address.slice(0, 300))}: ${reason}`);
    this.problem = problem;
    this.reason = reason;
    this.detail = detail;
  }
}

/**
 * `/<ip4|ip6|dns|dns4|dns6>/<host>/tcp/<port>/p2p/<peer id>` and its peer id, or a
 * BootstrapAddressError. The peer id is required because libp2p checks it in the handshake:
 * without it anyone answering at that address would be trusted.
 */
export function parseBootstrapAddress(raw: string): { multiaddr: Multiaddr; peerId: string } {
  let address: Multiaddr;
  try {
    address = multiaddr(raw);
  } catch (error) {
    const complaint = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
    throw new BootstrapAddressError(raw, 'not-a-multiaddr', `not a multiaddr (${complaint})`, complaint);
  }
  const components = address.getComponents();
  const last = components.at(-1);
  if (last?.name !== 'p2p' || last.value === undefined) {
    throw new BootstrapAddressError(raw, 'no-peer-id', 'it must end in /p2p/<peer id>: the peer id names the host to trust');
  }
  try {
    peerIdFromString(last.value);
  } catch {
    throw new BootstrapAddressError(raw, 'bad-peer-id', `"${last.value}" is not a peer id`, last.value);
  }
  const [host, transport] = components;
  if (components.length !== 3 || !HOST_PROTOCOLS.has(host?.name ?? '') || transport?.name !== 'tcp') {
    throw new BootstrapAddressError(raw, 'not-tcp', 'shoal dials peers over TCP: /ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>/p2p/<peer id>');
  }
  return { multiaddr: address, peerId: last.value };
}
