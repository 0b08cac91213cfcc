// The operator commands' own login to the local daemon. A node with an htpasswd file and
// `anonymous-pull none` answers nothing without one, so prefetch, status, doctor and preheat used
// to fail with 401 after the operator had run `docker login` (operator audit): they now send the
// Basic credentials docker keeps for the daemon's address, as docker itself would.
import { loadDockerCredentials } from '../upstream/docker-credentials.ts';
import { formatHostPort, isUnspecifiedIp, type HostPort } from '../config/parse.ts';

let authorization: string | undefined;

/**
 * Remembers the credentials `docker login <listen address>` stored in the docker config (the file
 * shoal reads seed credentials from), under the names docker may have used for a local daemon.
 */
export function useDaemonCredentials(listen: HostPort, dockerConfigPath: string | undefined): void {
  authorization = undefined;
  let credentials;
  try {
    credentials = loadDockerCredentials(dockerConfigPath);
  } catch {
    return; // an unreadable docker config: the daemon's 401 says to log in
  }
  const hosts = isUnspecifiedIp(listen.host) || listen.host === '127.0.0.1' || listen.host === '::1' || listen.host === 'localhost'
    ? [listen.host, 'localhost', '127.0.0.1', '::1']
    : [listen.host];
  for (const host of hosts) {
    const found = credentials.lookup(formatHostPort({ host, port: listen.port }));
    if (found) {
      authorization = `Basic ${Buffer.from(`${found.username}:${found.password}`).toString('base64')}`;
      return;
    }
  }
}

/** The Authorization header for requests to the daemon, when docker has a login for it. */
export function daemonAuthHeaders(): Record<string, string> {
  return authorization === undefined ? {} : { authorization };
}
