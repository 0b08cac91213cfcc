import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthTracker, TrackedUpstream } from '../../src/upstream/health.ts';
import { UpstreamError, UpstreamUnavailableError } from '../../src/upstream/errors.ts';
import { UpstreamSet } from '../../src/upstream/upstreams.ts';
import { registryHostOf, type RegistryClientInit } from '../../src/upstream/registry-client.ts';
import type { UpstreamRegistry } from '../../src/upstream/types.ts';

const URL_A = 'http://a.test:5000';

/** An upstream whose next answers are scripted: 'down' throws UpstreamUnavailableError, 'odd' UpstreamError, 'ok' answers. */
function scripted(url: string) {
  const script: Array<'ok' | 'down' | 'odd'> = [];
  let calls = 0;
  const answer = async <T>(value: T): Promise<T> => {
    calls += 1;
    const next = script.shift() ?? 'ok';
    if (next === 'down') throw new UpstreamUnavailableError(registryHostOf(url), `connect ECONNREFUSED ${url}`);
    if (next === 'odd') throw new UpstreamError(registryHostOf(url), 418, 'teapot');
    return value;
  };
  const upstream: UpstreamRegistry = {
    url,
    host: registryHostOf(url),
    headManifest: () => answer(undefined),
    getManifest: () => answer(undefined),
    headBlob: () => answer(undefined),
    getBlob: () => answer(undefined),
    listTags: () => answer(['latest']),
    catalog: () => answer([]),
  };
  return { upstream, script, calls: () => calls };
}

describe('HealthTracker', () => {
  test('down after maxFails consecutive failures, for failTimeoutMs; any success resets the count', () => {
    let now = 0;
    const changes: string[] = [];
    const tracker = new HealthTracker({ maxFails: 3, failTimeoutMs: 10_000, now: () => now, onChange: (url, state) => changes.push(`${url} ${state}`) });
    tracker.recordFailure(URL_A, new Error('x'));
    tracker.recordFailure(URL_A, new Error('x'));
    tracker.recordSuccess(URL_A);
    tracker.recordFailure(URL_A, new Error('x'));
    tracker.recordFailure(URL_A, new Error('x'));
    assert.equal(tracker.isDown(URL_A), false, 'the success in between reset the count');
    tracker.recordFailure(URL_A, new Error('refused'));
    assert.equal(tracker.isDown(URL_A), true);
    assert.equal(tracker.downForMs(URL_A), 10_000);
    const [h] = tracker.health();
    assert.equal(h!.state, 'down');
    assert.equal(h!.consecutiveFailures, 3);
    assert.equal(h!.lastError, 'refused');
    assert.equal(h!.downUntil, new Date(10_000).toISOString());
    now = 10_000;
    assert.equal(tracker.isDown(URL_A), false, 'tried again after the back-off');
    tracker.recordFailure(URL_A, new Error('still'));
    assert.equal(tracker.downForMs(URL_A), 10_000, 'one more failure: straight back down');
    now = 20_001;
    tracker.recordSuccess(URL_A);
    assert.equal(tracker.health()[0]!.state, 'up');
    assert.equal(tracker.health()[0]!.consecutiveFailures, 0);
    assert.deepEqual(changes, [`${URL_A} down`, `${URL_A} down`, `${URL_A} up`]);
  });
});

describe('TrackedUpstream', () => {
  test('counts only unavailability as failure, fails fast while down, and lets the caller abort without blame', async () => {
    let now = 0;
    const tracker = new HealthTracker({ maxFails: 2, failTimeoutMs: 5_000, now: () => now });
    const fake = scripted(URL_A);
    const tracked = new TrackedUpstream(fake.upstream, tracker);
    fake.script.push('down', 'odd', 'down', 'down');
    await assert.rejects(tracked.listTags('x'), UpstreamUnavailableError);
    await assert.rejects(tracked.listTags('x'), UpstreamError, 'an odd answer means the upstream is up');
    await assert.rejects(tracked.listTags('x'), UpstreamUnavailableError);
    assert.equal(tracker.isDown(URL_A), false);
    await assert.rejects(tracked.listTags('x'), UpstreamUnavailableError);
    assert.equal(tracker.isDown(URL_A), true);
    const callsBefore = fake.calls();
    await assert.rejects(tracked.getBlob('x', { algorithm: 'sha256', hex: 'a'.repeat(64), value: `sha256:${'a'.repeat(64)}` }), /marked down after 2 consecutive failures.*tried again in 5 s/);
    assert.equal(fake.calls(), callsBefore, 'no request while down');
    now = 5_000;
    assert.deepEqual(await tracked.listTags('x'), ['latest']);
    assert.equal(tracker.health()[0]!.state, 'up');

    const controller = new AbortController();
    controller.abort();
    fake.script.push('down', 'down');
    await assert.rejects(tracked.listTags('x', { signal: controller.signal }));
    await assert.rejects(tracked.listTags('x', { signal: controller.signal }));
    assert.equal(tracker.health()[0]!.consecutiveFailures, 0, 'aborted calls count for nothing');
  });
});

describe('UpstreamSet health', () => {
  test('skips an upstream that is down, unless every candidate is', async () => {
    let now = 0;
    const fakes = new Map<string, ReturnType<typeof scripted>>();
    const createClient = (init: RegistryClientInit) => {
      const fake = scripted(init.url);
      fakes.set(init.url, fake);
      return fake.upstream;
    };
    const set = new UpstreamSet([{ url: 'http://a.test:5000' }, { url: 'http://b.test:5000' }], { createClient, maxFails: 1, failTimeoutMs: 30_000, now: () => now });
    fakes.get('http://a.test:5000')!.script.push('down');
    await assert.rejects(set.targets('app')[0]!.upstream.listTags('app'), UpstreamUnavailableError);
    assert.deepEqual(set.targets('app').map((t) => t.upstream.host), ['b.test:5000']);
    assert.deepEqual(set.health().map((h) => [h.host, h.state, h.configured]), [
      ['a.test:5000', 'down', true],
      ['b.test:5000', 'up', true],
    ]);
    fakes.get('http://b.test:5000')!.script.push('down');
    await assert.rejects(set.targets('app')[0]!.upstream.listTags('app'), UpstreamUnavailableError);
    const all = set.targets('app');
    assert.deepEqual(all.map((t) => t.upstream.host), ['a.test:5000', 'b.test:5000'], 'all down: all returned');
    await assert.rejects(all[0]!.upstream.listTags('app'), /marked down/);
    now = 30_000;
    assert.deepEqual(set.targets('app').map((t) => t.upstream.host), ['a.test:5000', 'b.test:5000']);
    assert.deepEqual(await set.targets('app')[0]!.upstream.listTags('app'), ['latest']);
  });
});
