// IPv6 literals go in brackets wherever a port or a URL follows them (RFC 3986 §3.2.2).

/** `[::1]` for an IPv6 literal, any other host unchanged. */
export function bracketHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** `host:port`, `[v6]:port`. */
export function formatHostPort(host: string, port: number): string {
  return `${bracketHost(host)}:${port}`;
}

/** `::1` for `[::1]` (as URL.hostname gives it), any other host unchanged. */
export function unbracketHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** The host of `host[:port]` or `[v6][:port]`, without brackets or port; `::1` alone is kept whole. */
export function hostOfAuthority(authority: string): string {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return end < 0 ? authority : authority.slice(1, end);
  }
  // More than one colon and no brackets: a bare IPv6 address, which has no port.
  return authority.split(':').length > 2 ? authority : authority.replace(/:\d*$/, '');
}
