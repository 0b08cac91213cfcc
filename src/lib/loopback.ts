// Whether a host is this machine: the one rule the config check, the auth's "anonymous pull from
// loopback", the upstream scheme choice, `shoal setup` and `shoal doctor` share.
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { unbracketHost } from './host-port.ts';

/**
 * True for 127.0.0.0/8, ::1 in any spelling, their IPv4-mapped forms (`::ffff:127.0.0.1`, as a
 * dual-stack socket reports a local client), and the names `localhost` and `*.localhost`, which
 * RFC 6761 reserves for loopback. A bracketed IPv6 host (`[::1]`) is accepted; a port is not.
 */
export function isLoopback(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = unbracketHost(host).toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  // isIP first: ipaddr.js alone also takes `127.1` and `0x7f.0.0.1`, which are no address a URL or socket shows.
  return isIP(name) !== 0 && ipaddr.process(name).range() === 'loopback';
}
