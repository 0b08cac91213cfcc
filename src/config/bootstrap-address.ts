// Validation of bootstrap multiaddrs at start-up. A module of its own because the rule
// (src/lib/bootstrap-address.ts) needs libp2p's multiaddr and peer-id packages: the schema imports
// it only when a bootstrap address is actually configured, so `--help`, `shoal config` and most
// start-ups load neither.
import { BootstrapAddressError, parseBootstrapAddress, type BootstrapProblem } from '../lib/bootstrap-address.ts';
import { BOOTSTRAP_EXAMPLE, InvalidValueError } from './parse.ts';

/** Throws InvalidValueError, with an example, unless `raw` is a multiaddr shoal can dial and authenticate. */
export function checkBootstrapAddress(raw: string): void {
  try {
    parseBootstrapAddress(raw);
  } catch (error) {
    if (!(error instanceof BootstrapAddressError)) throw error;
    throw new InvalidValueError(MESSAGES[error.problem](error.detail));
  }
}

const MESSAGES: Record<BootstrapProblem, (detail: string) => string> = {
  'not-a-multiaddr': (complaint) => `expected a multiaddr such as ${BOOTSTRAP_EXAMPLE}; ${complaint}`,
  'no-peer-id': () => `expected a multiaddr ending in /p2p/<peer id> such as ${BOOTSTRAP_EXAMPLE} (the peer id names the host to trust)`,
  'bad-peer-id': (text) => `expected a multiaddr ending in /p2p/<peer id> such as ${BOOTSTRAP_EXAMPLE}; "${text}" is not a peer id`,
  'not-tcp': () => `expected /ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>/p2p/<peer id> such as ${BOOTSTRAP_EXAMPLE}: shoal dials peers over TCP`,
};
