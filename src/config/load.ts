// Merges flags, environment, the config file and defaults (in that precedence) into a ShoalConfig;
// the cross-checks between merged settings (ports, listeners, watermarks) are in cross-checks.ts.
import { dirname } from 'node:path';
import { authConfig, diskConfig, swarmConfig, type Sourced } from './cross-checks.ts';
import { ConfigError } from './errors.ts';
import { InvalidValueError } from './parse.ts';
import { SETTINGS, type Setting, type SettingContext, type SettingId } from './schema.ts';
import type { ShoalConfig, UpstreamConfig, UpstreamTlsConfig } from './types.ts';
import { readConfigFile, type ConfigFile, type FileValue, type FileValues } from './yaml-file.ts';

export { ConfigError } from './errors.ts';

export interface LoadConfigOptions {
  /** Commander's parsed options, keyed like SETTINGS (`dataDir`, `upstream` as string[] ...). Absent: not given. */
  readonly argvOptions: Readonly<Record<string, unknown>>;
  /** Empty variables count as unset, so `SHOAL_UPSTREAM=` in a unit file does no harm. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly homedir: string;
}

/** One raw value and how to say where it came from. */
interface Candidate {
  readonly raw: string;
  /** `--upstream-password`, `SHOAL_LISTEN`, `config file /etc/shoal.yml:4 (proxy.password)`. */
  readonly label: string;
  readonly context: SettingContext;
  /** The one-line message for a bad value; secrets are left out of it. */
  describe(reason: string, secret: boolean): string;
}

type ValueOf<K extends SettingId> = (typeof SETTINGS)[K] extends Setting<infer T> ? T : never;

interface UpstreamDraft {
  readonly url: string;
  readonly username: Sourced<string> | undefined;
  readonly password: Sourced<string> | undefined;
  readonly tls: TlsDraft;
}

/** The per-upstream TLS settings, each from wherever it was given. */
const TLS_SETTINGS = ['upstreamCa', 'upstreamClientCert', 'upstreamClientKey', 'upstreamSkipVerify'] as const;
type TlsDraft = { readonly [K in (typeof TLS_SETTINGS)[number]]?: Sourced<ValueOf<K>> };

export async function loadConfig(options: LoadConfigOptions): Promise<ShoalConfig> {
  const { argvOptions, env, cwd, homedir } = options;
  const cwdContext: SettingContext = { baseDir: cwd, homedir, env };

  const fromFlag = (id: SettingId): Candidate[] | undefined => {
    const given = argvOptions[id];
    const raws = Array.isArray(given) ? given.map(String) : given === undefined ? undefined : [String(given)];
    const flag = SETTINGS[id].flag.split(' ')[0] ?? '';
    return raws?.map((raw) => ({
      raw, label: flag, context: cwdContext,
      describe: (reason, secret) => `invalid ${flag}${secret ? '' : ` "${raw}"`}: ${reason}`,
    }));
  };
  const fromEnv = (id: SettingId): Candidate[] | undefined => {
    const setting: Setting<unknown> = SETTINGS[id];
    const text = env[setting.env];
    if (text === undefined || text === '') return undefined;
    const raws = setting.repeatable ? text.split(',').map((item) => item.trim()).filter((item) => item !== '') : [text];
    return raws.map((raw) => ({
      raw, label: setting.env, context: cwdContext,
      describe: (reason, secret) => `invalid ${setting.env}${secret ? '' : `="${text}"`}: ${reason}`,
    }));
  };
  const fromFileValue = (file: ConfigFile, value: FileValue): Candidate => ({
    raw: value.raw,
    label: `config file ${file.path}:${value.line} (${value.key})`,
    context: { baseDir: dirname(file.path), homedir, env },
    describe: (reason, secret) => `config file ${file.path}:${value.line}: ${value.key}${secret ? '' : ` "${value.raw}"`}: ${reason}`,
  });
  const fromDefault = (id: SettingId): Candidate[] | undefined => {
    const setting: Setting<unknown> = SETTINGS[id];
    const raw = setting.defaultRaw(cwdContext);
    return raw === undefined ? undefined : [{
      raw, label: `default of ${setting.name}`, context: cwdContext,
      describe: (reason) => `invalid default of ${setting.name} "${raw}": ${reason}`,
    }];
  };
  /** Settings' asynchronous checks, awaited in order once everything is parsed. */
  const checks: (() => Promise<void>)[] = [];
  const parse = <K extends SettingId>(id: K, candidate: Candidate): ValueOf<K> => {
    const setting = SETTINGS[id] as Setting<ValueOf<K>>;
    const fail = (error: unknown): never => {
      if (error instanceof InvalidValueError) throw new ConfigError(candidate.describe(error.reason, setting.secret || error.secret));
      throw error;
    };
    let value: ValueOf<K>;
    try {
      value = setting.parse(candidate.raw, candidate.context);
    } catch (error) {
      return fail(error);
    }
    const { check } = setting;
    if (check !== undefined) checks.push(() => check(value, candidate.context).catch(fail));
    return value;
  };
  const sourced = <K extends SettingId>(id: K, candidates: Candidate[] | undefined): Sourced<ValueOf<K>> | undefined => {
    const candidate = candidates?.[0];
    return candidate === undefined ? undefined : { value: parse(id, candidate), label: candidate.label };
  };

  const configCandidate = (fromFlag('config') ?? fromEnv('config'))?.[0];
  const file = configCandidate === undefined
    ? undefined
    : await readConfigFile(parse('config', configCandidate), configCandidate.label);
  const fromFile = (id: SettingId): Candidate[] | undefined =>
    file === undefined ? undefined : file.values[id]?.map((value) => fromFileValue(file, value));
  /** A key of one `upstreams:` entry (or of the `proxy.remoteurl` shorthand). */
  const entryCandidates = (entry: FileValues, id: SettingId): Candidate[] | undefined => {
    const value = entry[id];
    return file === undefined || value === undefined ? undefined : [fromFileValue(file, value)];
  };
  const candidates = (id: SettingId): Candidate[] | undefined => fromFlag(id) ?? fromEnv(id) ?? fromFile(id) ?? fromDefault(id);

  const sourcedSetting = <K extends SettingId>(id: K): Sourced<ValueOf<K>> | undefined => sourced(id, candidates(id));
  const setting = <K extends SettingId>(id: K): ValueOf<K> | undefined => sourcedSetting(id)?.value;
  const requiredSourced = <K extends SettingId>(id: K): Sourced<ValueOf<K>> => {
    const value = sourcedSetting(id);
    if (value === undefined) throw new Error(`setting ${id} has no default`);
    return value;
  };
  const required = <K extends SettingId>(id: K): ValueOf<K> => requiredSourced(id).value;
  /** A repeatable setting: every value of the one source that gives any (an empty list from the file counts). */
  const list = <K extends SettingId>(id: K): ValueOf<K>[] => candidates(id)?.map((candidate) => parse(id, candidate)) ?? [];

  /** A password given directly or through a password file, within one source. */
  const password = (direct: Candidate[] | undefined, viaFile: Candidate[] | undefined): Sourced<string> | undefined => {
    if (direct !== undefined && viaFile !== undefined) {
      throw new ConfigError(`${direct[0]?.label} and ${viaFile[0]?.label} are both set: give the password one way`);
    }
    return sourced('upstreamPassword', direct) ?? sourced('upstreamPasswordFile', viaFile);
  };

  // The list comes whole from one source. File credentials stay bound to the file's URLs: when flags
  // or the environment replace the list, they must not be sent to hosts they were not written for.
  const urlCandidates = fromFlag('upstream') ?? fromEnv('upstream');
  const tlsDraft = (from: (id: SettingId) => Candidate[] | undefined): TlsDraft => Object.fromEntries(TLS_SETTINGS
    .map((id) => [id, sourced(id, from(id))] as const)
    .filter(([, value]) => value !== undefined));
  const drafts: UpstreamDraft[] = urlCandidates !== undefined
    ? urlCandidates.map((candidate) => ({ url: parse('upstream', candidate), username: undefined, password: undefined, tls: {} }))
    : (file?.upstreams ?? []).map((entry) => ({
      url: parse('upstream', entryCandidates(entry, 'upstream')?.[0] as Candidate),
      username: sourced('upstreamUsername', entryCandidates(entry, 'upstreamUsername')),
      password: password(entryCandidates(entry, 'upstreamPassword'), entryCandidates(entry, 'upstreamPasswordFile')),
      tls: tlsDraft((id) => entryCandidates(entry, id)),
    }));

  // Flag and environment credentials are for the first upstream, flag first.
  const username = sourced('upstreamUsername', fromFlag('upstreamUsername') ?? fromEnv('upstreamUsername'));
  const secret = password(fromFlag('upstreamPassword'), fromFlag('upstreamPasswordFile'))
    ?? password(fromEnv('upstreamPassword'), fromEnv('upstreamPasswordFile'));
  // TLS settings from flags and the environment, likewise, each one on its own.
  const tls = tlsDraft((id) => fromFlag(id) ?? fromEnv(id));
  const [first, ...rest] = drafts;
  const forFirst = username ?? secret ?? Object.values(tls)[0];
  if (first === undefined && forFirst !== undefined) {
    throw new ConfigError(`${forFirst.label} is set but no upstream is configured (--upstream, SHOAL_UPSTREAM or proxy.remoteurl)`);
  }
  const merged = first === undefined ? [] : [{ url: first.url, username: username ?? first.username, password: secret ?? first.password, tls: { ...first.tls, ...tls } }, ...rest];

  const listen = requiredSourced('listen');
  const config: ShoalConfig = {
    listen: listen.value,
    dataDir: required('dataDir'),
    upstreams: merged.map(withCredentials),
    allowedRegistries: list('allowedRegistries'),
    dockerConfigPath: setting('dockerConfig'),
    tagTimeoutMs: required('tagTimeout'),
    upstreamTimeoutMs: required('upstreamTimeout'),
    upstreamBodyTimeoutMs: required('upstreamBodyTimeout'),
    dockerCertsDir: required('dockerCertsDir'),
    maxUploadBytes: required('maxUploadSize'),
    metricsListen: setting('metricsListen'),
    logLevel: required('logLevel'),
    swarm: swarmConfig(listen, {
      enabled: required('swarm'),
      p2pPort: requiredSourced('p2pPort'),
      peerPort: requiredSourced('peerPort'),
      bindAddress: required('bindAddress'),
      advertiseAddress: sourcedSetting('advertiseAddress'),
      bootstrap: list('bootstrap'),
      mdns: required('mdns'),
      maxPeerConnections: required('maxPeerConnections'),
      ownerCommittee: required('ownerCommittee'),
      pieceSize: required('pieceSize'),
      clusterKeyPath: setting('clusterKey'),
    }),
    auth: authConfig(listen, sourcedSetting('htpasswd'), requiredSourced('anonymousPull'), required('allowInsecureListen')),
    disk: diskConfig(required('maxDiskUsage'), requiredSourced('diskHighWatermark'), requiredSourced('diskLowWatermark')),
    neighbour: {
      uploadBytesPerSecond: required('uploadRate'),
      downloadBytesPerSecond: required('downloadRate'),
      seedBytesPerSecond: required('seedRate'),
      maxPeerServes: required('maxPeerServes'),
      rangeFetch: required('rangeFetch'),
    },
  };
  for (const check of checks) await check();
  await checkUpstreamTls(config, merged);
  return config;
}

/**
 * Reads every configured upstream's TLS files (settings and docker's certs.d folder) as the
 * daemon will, so a missing file or a key that does not match its certificate stops start-up
 * with one line naming the file.
 */
async function checkUpstreamTls(config: ShoalConfig, drafts: readonly UpstreamDraft[]): Promise<void> {
  const { loadTls, tlsFilesFor, TlsConfigError } = await import('../upstream/tls.ts');
  for (const [index, upstream] of config.upstreams.entries()) {
    try {
      const files = tlsFilesFor(upstream.url, upstream.tls, config.dockerCertsDir);
      // Without files there is nothing to check, and the default context (the system CA store,
      // ~8 MiB for good) waits for the upstream's first TLS connection.
      if (files.caFiles.length > 0 || files.client !== undefined) loadTls(files);
    } catch (error) {
      if (!(error instanceof TlsConfigError)) throw error;
      const labels = Object.values(drafts[index]?.tls ?? {}).map((value) => value.label);
      throw new ConfigError(`upstream ${upstream.url}${labels.length > 0 ? ` (${labels.join(', ')})` : ''}: ${error.message}`);
    }
  }
}

/** Registry auth (basic, or bearer tokens fetched with basic) needs both halves; one alone is a mistake. */
function withCredentials({ url, username, password, tls }: UpstreamDraft): UpstreamConfig {
  const withTls = tlsConfig(tls);
  if (username !== undefined && password !== undefined) return { url, credentials: { username: username.value, password: password.value }, ...withTls };
  if (username === undefined && password === undefined) return { url, ...withTls };
  const [present, missing] = username === undefined ? [password, 'user name'] : [username, 'password'];
  throw new ConfigError(`upstream ${url}: ${present?.label} is set but no ${missing} is; registry auth needs both`);
}

function tlsConfig(draft: TlsDraft): { tls?: UpstreamTlsConfig } {
  const tls: UpstreamTlsConfig = {
    ...(draft.upstreamCa && { caFile: draft.upstreamCa.value }),
    ...(draft.upstreamClientCert && { clientCertFile: draft.upstreamClientCert.value }),
    ...(draft.upstreamClientKey && { clientKeyFile: draft.upstreamClientKey.value }),
    ...(draft.upstreamSkipVerify?.value === true && { skipVerify: true }),
  };
  return Object.keys(tls).length > 0 ? { tls } : {};
}
