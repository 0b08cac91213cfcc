// What every part of the multi-host harness agrees on: where shoal lives and which ports a
// daemon and the seed listen on inside their host's namespace (each host has its own network
// stack, so every daemon can use the same ports).
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..', '..');
export const SHOAL_BIN = join(ROOT, 'bin', 'shoal.js');
/** The registry API (and GET /_shoal/status) on each host's loopback; the seed's port on its LAN address. */
export const REGISTRY_PORT = 5000;
export const P2P_PORT = 5001;
/** The peer data plane on each host's LAN address. */
export const PEER_PORT = 5002;
/** Each daemon's metrics-listen port, on its loopback: the peer port's /metrics is TLS-only with a cluster key. */
export const METRICS_PORT = 5003;
export const START_TIMEOUT_MS = 30_000;
export const DEFAULT_MESH_TIMEOUT_MS = 20_000;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The daemon's local registry URL, as seen from inside its host. */
export const LOCAL_REGISTRY = `http://127.0.0.1:${REGISTRY_PORT}`;
