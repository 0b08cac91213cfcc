/**
 * An Authorization header split into its scheme and credentials. The scheme is case-insensitive
 * (RFC 9110 §11.1): `bearer x`, `Bearer x` and `BEARER x` are one thing, so it is lowercased here,
 * once, for every listener that checks credentials. Undefined for an absent or blank header.
 */
export function parseAuthorization(header: string | undefined): { scheme: string; credentials: string } | undefined {
  const match = header === undefined ? null : /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s+([^]*))?$/.exec(header);
  if (!match) return undefined;
  return { scheme: match[1]!.toLowerCase(), credentials: (match[2] ?? '').trim() };
}
