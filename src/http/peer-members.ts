// Who may make this node fetch from its seed: an owner ask (`?repository=...&from=<peer id>`)
// makes it fetch with its own seed credentials, cache the blob and stream it. Without a cluster
// key any LAN host reaches the peer port, so an ask is taken only from a current member of the
// swarm, at an address the swarm knows that member by (audit F2). Reads of what this host already
// holds need no membership: the keyless swarm is open for reads (README, Security).
import { normaliseAddress } from '../lib/ip-address.ts';
import { unbracketHost } from '../lib/host-port.ts';
import type { PeerSummary, SwarmView } from '../swarm/index.ts';

/** What the peer app needs of the swarm: its connected members (the libp2p Swarm, or MemorySwarm in tests). */
export type PeerMembers = Pick<SwarmView, 'peers'>;

/** Why an owner ask naming `from`, arriving from `address`, is refused; undefined when a member asks. */
export function askRefusal(members: PeerMembers, from: string | undefined, address: string | undefined): string | undefined {
  if (from === undefined) return 'an owner ask names the asking peer (from=<peer id>); this node fetches from its seed only for a member of its swarm';
  const peer = members.peers().find((p) => p.peerId === from);
  if (peer === undefined) return `peer ${from} is not a connected member of this node's swarm; this node fetches from its seed only for its members`;
  const source = address === undefined ? undefined : normaliseAddress(address);
  if (source === undefined || !memberAddresses(peer).has(source)) {
    return `peer ${from} is a member, but this node knows it at ${[...memberAddresses(peer)].join(', ') || 'no address'}, not ${source ?? 'an unknown address'}`;
  }
  return undefined;
}

/**
 * The addresses a member may ask from: its data plane's host (its advertise address, if it set
 * one) and the remote end of each libp2p connection to it (its real source address, whatever it
 * advertises: a host behind one NAT address, or bound to one interface and advertising another).
 */
function memberAddresses(peer: PeerSummary): Set<string> {
  const found = new Set<string>();
  if (peer.url !== undefined) {
    try {
      found.add(normaliseAddress(unbracketHost(new URL(peer.url).hostname)));
    } catch {
      // A URL the peer told that does not parse names no address.
    }
  }
  for (const address of peer.addresses) {
    // The transport's address is the first ip4/ip6 of a multiaddr (/ip4/10.0.0.5/tcp/5001/p2p/...).
    const parts = address.split('/');
    const at = parts.findIndex((part) => part === 'ip4' || part === 'ip6');
    if (at >= 0 && parts[at + 1] !== undefined) found.add(normaliseAddress(parts[at + 1]!));
  }
  return found;
}
