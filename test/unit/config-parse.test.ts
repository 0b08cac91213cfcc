import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  InvalidValueError, MAX_DURATION_MS, formatDuration, formatHostPort, formatSize, parseAdvertiseAddress, parseBoolean,
  parseDuration, parseHostPort, parseIpAddress, parseLogLevel, parsePortOrZero, parseSize, parseUpstreamUrl, resolvePath,
} from '../../src/config/parse.ts';
import { checkBootstrapAddress } from '../../src/config/bootstrap-address.ts';

const rejects = (parse: (raw: string) => unknown, raw: string, reason: RegExp): void => {
  assert.throws(() => parse(raw), (error: unknown) => error instanceof InvalidValueError && reason.test(error.reason), raw);
};

describe('parseHostPort', () => {
  it('accepts IPv4, host names and bracketed IPv6', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
    assert.deepEqual(parseHostPort('localhost:1'), { host: 'localhost', port: 1 });
    assert.deepEqual(parseHostPort('[::1]:5000'), { host: '::1', port: 5000 });
    assert.deepEqual(parseHostPort('0.0.0.0:65535'), { host: '0.0.0.0', port: 65535 });
  });
  it('rejects what is not HOST:PORT, with a reason', () => {
    for (const raw of ['abc', '', '127.0.0.1', '::1:5000', '[::1]', 'host:port:1', '[nothost]:5000', '999.1.1.1:5000', 'a_b:5000']) {
      rejects(parseHostPort, raw, /^expected HOST:PORT/);
    }
    rejects(parseHostPort, ':5000', /0\.0\.0\.0:PORT/);
    for (const raw of ['localhost:0', 'localhost:65536', 'localhost:-1', 'localhost:', 'localhost:5e3']) {
      rejects(parseHostPort, raw, /port from 1 to 65535/);
    }
  });
  it('round-trips through formatHostPort', () => {
    const host = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain());
    fc.assert(fc.property(host, fc.integer({ min: 1, max: 65535 }), (h, port) => {
      const parsed = parseHostPort(formatHostPort({ host: h, port }));
      assert.equal(parsed.port, port);
      assert.equal(formatHostPort(parsed), formatHostPort({ host: h, port }));
    }));
  });
});

describe('parseDuration', () => {
  it('reads Go-style durations into milliseconds', () => {
    assert.equal(parseDuration('2s'), 2000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('0.1s'), 100);
  });
  it('rejects bare numbers, unknown units, zero, fractions of a millisecond and overflow', () => {
    for (const raw of ['2', '', 's', '2 s', '2sec', '-1s', '1d', '2s ']) rejects(parseDuration, raw, /^expected a duration such as/);
    rejects(parseDuration, '0s', /longer than zero/);
    rejects(parseDuration, '1.5ms', /whole number of milliseconds/);
    rejects(parseDuration, '1000h', /no longer than/);
  });
  it('round-trips through formatDuration', () => {
    assert.equal(formatDuration(90_061_001), '25h1m1s1ms');
    fc.assert(fc.property(fc.integer({ min: 1, max: MAX_DURATION_MS }), (ms) => {
      assert.equal(parseDuration(formatDuration(ms)), ms);
    }));
  });
});

describe('parseSize', () => {
  it('reads bytes, decimal and binary units, case-insensitively', () => {
    assert.equal(parseSize('0'), 0);
    assert.equal(parseSize('1024'), 1024);
    assert.equal(parseSize('10GiB'), 10 * 1024 ** 3);
    assert.equal(parseSize('100MB'), 100_000_000);
    assert.equal(parseSize('1.5KiB'), 1536);
    assert.equal(parseSize('512 mib'), 512 * 1024 ** 2);
    assert.equal(parseSize('7B'), 7);
  });
  it('rejects other units, negative sizes, fractions of a byte and huge sizes', () => {
    for (const raw of ['', 'ten', '10GB!', '-1', '10XB', '1e9']) rejects(parseSize, raw, /^expected a size such as/);
    rejects(parseSize, '1.3B', /whole number of bytes/);
    rejects(parseSize, '9999999TiB', /below/);
  });
  it('round-trips through formatSize', () => {
    assert.equal(formatSize(10 * 1024 ** 3), '10GiB');
    assert.equal(formatSize(1000), '1000B');
    fc.assert(fc.property(fc.oneof(fc.nat(), fc.maxSafeNat(), fc.nat({ max: 4096 }).map((n) => n * 1024 ** 3)), (bytes) => {
      assert.equal(parseSize(formatSize(bytes)), bytes);
    }));
  });
});

describe('parseUpstreamUrl', () => {
  it('normalises to scheme://host[:port]', () => {
    assert.equal(parseUpstreamUrl('http://192.168.64.150:5000'), 'http://192.168.64.150:5000');
    assert.equal(parseUpstreamUrl('https://Registry-1.Docker.io/'), 'https://registry-1.docker.io');
    assert.equal(parseUpstreamUrl('http://[::1]:5001/'), 'http://[::1]:5001');
  });
  it('rejects other schemes, paths, queries and embedded credentials', () => {
    for (const raw of ['ftp://x', 'x:5000', '192.168.64.150:5000', 'http://', '']) rejects(parseUpstreamUrl, raw, /http:\/\/ or https:\/\/ URL|with a host/);
    for (const raw of ['http://x/v2/', 'http://x/?a=1', 'http://x/#f']) rejects(parseUpstreamUrl, raw, /without a path, query or fragment/);
    rejects(parseUpstreamUrl, 'http://u:p@x', /without user:password@/);
  });
});

describe('parseLogLevel and resolvePath', () => {
  it('accepts pino levels only', () => {
    assert.equal(parseLogLevel('debug'), 'debug');
    rejects(parseLogLevel, 'verbose', /expected one of fatal, error, warn, info, debug, trace, silent/);
  });
  it('resolves relative paths against the base and ~ against home', () => {
    assert.equal(resolvePath('data', '/srv', '/home/u'), '/srv/data');
    assert.equal(resolvePath('/var/lib/shoal/', '/srv', '/home/u'), '/var/lib/shoal');
    assert.equal(resolvePath('~/shoal', '/srv', '/home/u'), '/home/u/shoal');
    assert.equal(resolvePath('~', '/srv', '/home/u'), '/home/u');
    rejects((raw) => resolvePath(raw, '/srv', '/home/u'), '', /expected a path/);
  });
});

describe('parsePortOrZero and parseBoolean', () => {
  it('takes ports 0 to 65535, 0 meaning any free port', () => {
    assert.equal(parsePortOrZero('0'), 0);
    assert.equal(parsePortOrZero('5001'), 5001);
    assert.equal(parsePortOrZero('65535'), 65535);
    for (const raw of ['', '-1', '65536', '5e3', ' 5001', '5001.0', 'http']) rejects(parsePortOrZero, raw, /^expected a port from 0 to 65535 \(0 = any free port\)$/);
  });
  it('takes true/false and their usual spellings, any case', () => {
    for (const raw of ['true', 'TRUE', 'yes', 'on', '1']) assert.equal(parseBoolean(raw), true, raw);
    for (const raw of ['false', 'False', 'no', 'off', '0']) assert.equal(parseBoolean(raw), false, raw);
    for (const raw of ['', 'maybe', 'enabled', '2']) rejects(parseBoolean, raw, /^expected true or false$/);
  });
});

describe('parseIpAddress and parseAdvertiseAddress', () => {
  it('take IPv4 and IPv6 literals, IPv6 without brackets', () => {
    assert.equal(parseIpAddress('0.0.0.0'), '0.0.0.0');
    assert.equal(parseIpAddress('::'), '::');
    assert.equal(parseIpAddress('[fd00::1]'), 'fd00::1');
    for (const raw of ['', 'localhost', '10.0.0', '10.0.0.256', '10.0.0.1:5001', '[::1]:5001']) rejects(parseIpAddress, raw, /^expected an IP address such as/);
    assert.equal(parseAdvertiseAddress('192.168.1.10'), '192.168.1.10');
    for (const raw of ['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0']) rejects(parseAdvertiseAddress, raw, /cannot be dialled$/);
  });
});

describe('checkBootstrapAddress', () => {
  const peer = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA';
  it('accepts /<ip4|ip6|dns*>/<host>/tcp/<port>/p2p/<peer id>', () => {
    for (const raw of [`/ip4/10.0.0.5/tcp/5001/p2p/${peer}`, `/ip6/fd00::5/tcp/5001/p2p/${peer}`, `/dns4/seed.lan/tcp/5001/p2p/${peer}`,
      '/ip4/10.0.0.5/tcp/5001/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N']) {
      assert.doesNotThrow(() => checkBootstrapAddress(raw), raw);
    }
  });
  it('rejects what shoal cannot dial or authenticate, showing an example', () => {
    const example = /\/ip4\/10\.0\.0\.5\/tcp\/5001\/p2p\/12D3KooW\.\.\./;
    for (const raw of ['garbage', '/ip4/999.0.0.1/tcp/1', '/ip4/10.0.0.5/tcp/5001', `/p2p/${peer}`, '/ip4/10.0.0.5/tcp/5001/p2p/xyz',
      `/ip4/10.0.0.5/udp/5001/p2p/${peer}`, `/ip4/10.0.0.5/tcp/5001/p2p/${peer}/tcp/1`]) {
      rejects(checkBootstrapAddress, raw, example);
    }
  });
});
