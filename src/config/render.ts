// The effective configuration as YAML in the config file's own keys, for `shoal config`:
// operators see what the daemon will run with, and (unredacted) it loads back to the same config.
import { stringify } from 'yaml';
import { formatDuration, formatHostPort, formatSize } from './parse.ts';
import { SETTINGS, UPSTREAMS_LIST_KEY, type Setting } from './schema.ts';
import type { ShoalConfig } from './types.ts';

export const REDACTED = '<redacted>';

export interface RenderOptions {
  /** Print secrets instead of `<redacted>`; only for tests and deliberate exports. */
  readonly showSecrets?: boolean;
}

/** Writes `value` at the setting's first YAML path, creating the mappings on the way. */
function put(tree: Record<string, unknown>, setting: Setting<unknown>, value: string | number | boolean | readonly string[] | undefined): void {
  const path = setting.yaml[0];
  if (value === undefined || path === undefined) return;
  const keys = path.split('.');
  const last = keys.pop() ?? '';
  let node = tree;
  for (const key of keys) node = (node[key] ??= {}) as Record<string, unknown>;
  node[last] = value;
}

/** The key of an `upstreams:` entry that holds a setting (`upstreams[].url` → `url`). */
function entryKey(setting: Setting<unknown>): string {
  const prefix = `${UPSTREAMS_LIST_KEY}[].`;
  const path = setting.yaml.find((candidate) => candidate.startsWith(prefix));
  if (path === undefined) throw new Error(`setting ${setting.name} has no ${prefix} key`);
  return path.slice(prefix.length);
}

export function renderConfigYaml(config: ShoalConfig, options: RenderOptions = {}): string {
  const tree: Record<string, unknown> = {};
  put(tree, SETTINGS.listen, formatHostPort(config.listen));
  put(tree, SETTINGS.maxUploadSize, formatSize(config.maxUploadBytes));
  put(tree, SETTINGS.dataDir, config.dataDir);
  put(tree, SETTINGS.dockerConfig, config.dockerConfigPath);
  put(tree, SETTINGS.tagTimeout, formatDuration(config.tagTimeoutMs));
  put(tree, SETTINGS.upstreamTimeout, formatDuration(config.upstreamTimeoutMs));
  put(tree, SETTINGS.upstreamBodyTimeout, formatDuration(config.upstreamBodyTimeoutMs));
  put(tree, SETTINGS.dockerCertsDir, config.dockerCertsDir);
  // Always the list form: it holds one upstream as well as several.
  tree[UPSTREAMS_LIST_KEY] = config.upstreams.map(({ url, credentials, tls }) => ({
    [entryKey(SETTINGS.upstream)]: url,
    ...(credentials && {
      [entryKey(SETTINGS.upstreamUsername)]: credentials.username,
      [entryKey(SETTINGS.upstreamPassword)]: options.showSecrets ? credentials.password : REDACTED,
    }),
    ...(tls?.caFile !== undefined && { [entryKey(SETTINGS.upstreamCa)]: tls.caFile }),
    ...(tls?.clientCertFile !== undefined && { [entryKey(SETTINGS.upstreamClientCert)]: tls.clientCertFile }),
    ...(tls?.clientKeyFile !== undefined && { [entryKey(SETTINGS.upstreamClientKey)]: tls.clientKeyFile }),
    ...(tls?.skipVerify === true && { [entryKey(SETTINGS.upstreamSkipVerify)]: true }),
  }));
  if (config.metricsListen) put(tree, SETTINGS.metricsListen, formatHostPort(config.metricsListen));
  put(tree, SETTINGS.logLevel, config.logLevel);
  const { swarm } = config;
  put(tree, SETTINGS.swarm, swarm.enabled);
  put(tree, SETTINGS.p2pPort, swarm.p2pPort);
  put(tree, SETTINGS.peerPort, swarm.peerPort);
  put(tree, SETTINGS.bindAddress, swarm.bindAddress);
  put(tree, SETTINGS.advertiseAddress, swarm.advertiseAddress);
  put(tree, SETTINGS.bootstrap, swarm.bootstrap);
  put(tree, SETTINGS.mdns, swarm.mdns);
  put(tree, SETTINGS.pieceSize, formatSize(swarm.pieceSize));
  // The key file's path, not the key: nothing to redact.
  put(tree, SETTINGS.clusterKey, swarm.clusterKeyPath);
  // Printed only where they differ from "off", so a plain configuration stays as short as before.
  const { auth, disk } = config;
  if (auth.htpasswdPath !== undefined) {
    put(tree, SETTINGS.htpasswd, auth.htpasswdPath);
    put(tree, SETTINGS.anonymousPull, auth.anonymousPull);
  }
  if (auth.allowInsecureListen) put(tree, SETTINGS.allowInsecureListen, true);
  if (disk.maxBytes > 0) {
    put(tree, SETTINGS.maxDiskUsage, formatSize(disk.maxBytes));
    put(tree, SETTINGS.diskHighWatermark, `${disk.highWatermarkPercent}%`);
    put(tree, SETTINGS.diskLowWatermark, `${disk.lowWatermarkPercent}%`);
  }
  return stringify(tree);
}
