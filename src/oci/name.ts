import { OciError } from './errors.ts';

// The spec's repository name grammar, one path component at a time.
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
export const MAX_NAME_LENGTH = 255;

/** Validates a repository name such as `library/nginx`; throws NAME_INVALID. */
export function parseRepositoryName(input: string): string {
  if (typeof input !== 'string' || input.length === 0 || input.length > MAX_NAME_LENGTH) {
    throw new OciError('NAME_INVALID', `invalid repository name: must be 1 to ${MAX_NAME_LENGTH} characters`, { name: String(input).slice(0, 300) });
  }
  for (const component of input.split('/')) {
    if (!COMPONENT.test(component)) {
      throw new OciError(
        'NAME_INVALID',
        `invalid repository name ${JSON.stringify(input)}: each path component must be lowercase letters and digits separated by '.', '_', '__' or '-'`,
        { name: input },
      );
    }
  }
  return input;
}

export function isValidRepositoryName(input: string): boolean {
  try {
    parseRepositoryName(input);
    return true;
  } catch {
    return false;
  }
}

/** Whether a name's first component names a registry host (`registry.example.com/x`, `localhost:5001/x`), as docker decides it. */
export function splitRegistryHost(name: string): { host: string | undefined; path: string } {
  const slash = name.indexOf('/');
  if (slash < 0) return { host: undefined, path: name };
  const first = name.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') {
    return { host: first, path: name.slice(slash + 1) };
  }
  return { host: undefined, path: name };
}

// A registry host as docker writes it: DNS name, IPv4 or bracketed IPv6, optional port.
const HOST_LABEL = '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?';
const REGISTRY_HOST = new RegExp(`^(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[0-9a-f:.]+\\])(?::([0-9]{1,5}))?$`);

/**
 * Validates a registry host such as containerd's `?ns=` (`registry.example.com`, `10.0.0.1:5000`, `[::1]:5000`);
 * lowercased. Throws NAME_INVALID (400): an `ns` is part of the name a client asks for.
 */
export function parseRegistryHost(input: string): string {
  const host = input.toLowerCase();
  const match = host.length <= MAX_NAME_LENGTH ? REGISTRY_HOST.exec(host) : null;
  if (!match || (match[1] !== undefined && Number(match[1]) > 65535)) {
    throw new OciError('NAME_INVALID', `invalid registry host ${JSON.stringify(input.slice(0, 100))}: expected host[:port] such as registry.example.com or 10.0.0.1:5000`, { ns: input.slice(0, 300) });
  }
  return host;
}
