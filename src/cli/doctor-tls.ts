// `shoal doctor`'s view of TLS to the upstreams: it probes with what the daemon trusts (system
// store, docker's certs.d folder, the upstream's settings) and names a failed handshake with its fix.
import { Agent, type Dispatcher } from 'undici';
import type { ShoalConfig, UpstreamTlsConfig } from '../config/types.ts';
import { diagnoseTls, tlsFailureOf, tlsFix } from '../upstream/tls-errors.ts';
import { upstreamTls, type TlsConnectOptions } from '../upstream/tls.ts';
import type { CheckResult } from './doctor-check.ts';

export interface UpstreamProbeTls {
  readonly dispatcher: Dispatcher;
  /** Names a failed request's TLS problem and its fix; undefined when it was no TLS problem. */
  explain(error: unknown, timeoutMs: number): Promise<{ code: string; fix: string } | undefined>;
  close(): Promise<void>;
}

function tlsSettingsOf(url: string, config: ShoalConfig): UpstreamTlsConfig | undefined {
  return config.upstreams.find((upstream) => upstream.url === url)?.tls;
}

/** The dispatcher to probe `url` with; a CheckResult instead when its TLS files cannot be used. */
export function probeTls(url: string, config: ShoalConfig): UpstreamProbeTls | CheckResult {
  let tls: TlsConnectOptions;
  try {
    tls = upstreamTls(url, tlsSettingsOf(url, config), config.dockerCertsDir);
  } catch (error) {
    return { name: 'upstream', level: 'fail', message: `${url}: ${(error as Error).message}`, fix: 'correct the TLS files named above; shoal refuses to start with them' };
  }
  const dispatcher = new Agent({ connect: tls });
  return {
    dispatcher,
    explain: async (error, timeoutMs) => {
      const failure = tlsFailureOf(error, tls.sentClientCert) ?? await diagnoseTls(url, tls, timeoutMs);
      return failure && { code: failure.code, fix: tlsFix(failure.problem, url, config.dockerCertsDir) };
    },
    close: () => dispatcher.close(),
  };
}

/** A warning per configured upstream whose certificate is not verified. */
export function skipVerifyWarnings(config: ShoalConfig): CheckResult[] {
  return config.upstreams.filter((upstream) => upstream.tls?.skipVerify === true).map((upstream) => ({
    name: 'upstream', level: 'warn',
    message: `${upstream.url}: TLS certificate verification is off (upstream-skip-verify): anyone on the network path can serve images in its name`,
    fix: `trust the seed's CA instead (--upstream-ca FILE or ${config.dockerCertsDir}/${new URL(upstream.url).host}/ca.crt) and drop upstream-skip-verify`,
  }));
}
