// One spelling per address, so a socket's remoteAddress, a URL's host and a multiaddr's ip4/ip6
// value compare equal: a dual-stack socket reports an IPv4 client as `::ffff:10.0.0.5`, and IPv6
// has many spellings of one address (`FD00:0::5`, `fd00::5`).
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { unbracketHost } from './host-port.ts';

/** `10.0.0.5` for `::ffff:10.0.0.5`, IPv6 compressed and in lower case; anything not an IP address as given, in lower case. */
export function normaliseAddress(address: string): string {
  const host = unbracketHost(address).toLowerCase();
  // isIP first: ipaddr.js alone also takes `127.1` and `0x7f.0.0.1`, which no socket reports.
  if (isIP(host.replace(/%.*$/, '')) === 0) return host;
  try {
    return ipaddr.process(host).toString();
  } catch {
    return host;
  }
}
