import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { assertApiVersion, assertError, imageManifest, makeBlob, pushBlob, pushImage, pushManifestOk, type Response } from '../helpers/oci-fixtures.ts';

const TAGS = ['1.0', '1.1', '2.0', 'Latest', '_x', 'a-b', 'latest', 'v1'];
const REPOS = ['alpha', 'beta/one', 'beta/two', 'gamma', 'z/z/z'];

describe('tags list and catalog', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await createTestRegistry();
    const { manifest } = await pushImage(registry.app, 'list/app', TAGS[0]!);
    for (const tag of TAGS.slice(1).reverse()) await pushManifestOk(registry.app, 'list/app', tag, manifest);
    for (const repo of REPOS) await pushImage(registry.app, repo, 'v1');
  });
  after(() => registry.close());

  const get = (url: string): Promise<Response> => registry.app.inject({ method: 'GET', url });

  test('tags list: all tags in lexical (byte) order, no Link', async () => {
    const res = await get('/v2/list/app/tags/list');
    assert.equal(res.statusCode, 200);
    assertApiVersion(res);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.deepEqual(res.json(), { name: 'list/app', tags: [...TAGS].sort() });
    assert.equal(res.headers.link, undefined);
  });

  test('tags list pagination walks every page by following Link, with no Link on the last page', async () => {
    const seen: string[] = [];
    let url: string | undefined = '/v2/list/app/tags/list?n=3';
    let pages = 0;
    while (url) {
      const res = await get(url);
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json().tags as string[];
      assert.ok(page.length <= 3);
      seen.push(...page);
      pages += 1;
      const link = res.headers.link as string | undefined;
      if (link) {
        const match = /^<([^>]+)>; rel="next"$/.exec(link);
        assert.ok(match, link);
        assert.equal(match[1], `/v2/list/app/tags/list?n=3&last=${encodeURIComponent(page.at(-1)!)}`);
        url = match[1];
      } else {
        url = undefined;
      }
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...TAGS].sort());
  });

  test('exact Link on the first page: <...?n=2&last=1.1>; rel="next"', async () => {
    const res = await get('/v2/list/app/tags/list?n=2');
    assert.deepEqual(res.json().tags, ['1.0', '1.1']);
    assert.equal(res.headers.link, '</v2/list/app/tags/list?n=2&last=1.1>; rel="next"');
  });

  test('a page that ends exactly at the last tag has no Link', async () => {
    const res = await get(`/v2/list/app/tags/list?n=${TAGS.length}`);
    assert.equal(res.json().tags.length, TAGS.length);
    assert.equal(res.headers.link, undefined);
    const bigger = await get('/v2/list/app/tags/list?n=1000');
    assert.equal(bigger.json().tags.length, TAGS.length);
    assert.equal(bigger.headers.link, undefined);
  });

  test('last without n: everything after last; last past the end: empty', async () => {
    assert.deepEqual((await get('/v2/list/app/tags/list?last=a-b')).json().tags, ['latest', 'v1']);
    assert.deepEqual((await get('/v2/list/app/tags/list?last=zzz')).json().tags, []);
    // last need not be an existing tag
    assert.deepEqual((await get('/v2/list/app/tags/list?n=2&last=1.5')).json().tags, ['2.0', 'Latest']);
  });

  test('n=0 answers an empty list with no Link', async () => {
    const res = await get('/v2/list/app/tags/list?n=0');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json().tags, []);
    assert.equal(res.headers.link, undefined);
  });

  test('a bad n is 400 PAGINATION_NUMBER_INVALID on both lists', async () => {
    for (const n of ['abc', '-1', '1.5', '1e3', '0x10', ' 2']) {
      assertError(await get(`/v2/list/app/tags/list?n=${encodeURIComponent(n)}`), 400, 'PAGINATION_NUMBER_INVALID', n);
      assertError(await get(`/v2/_catalog?n=${encodeURIComponent(n)}`), 400, 'PAGINATION_NUMBER_INVALID', n);
    }
  });

  test('tags of an unknown repository are 404 NAME_UNKNOWN', async () => {
    assertError(await get('/v2/list/unknown/tags/list'), 404, 'NAME_UNKNOWN');
    assertError(await get('/v2/list/unknown/tags/list?n=1'), 404, 'NAME_UNKNOWN');
  });

  test('tags of a repository with blobs but no tags is an empty list', async () => {
    await pushBlob(registry.app, 'list/blobs-only', makeBlob('only a blob'));
    const res = await get('/v2/list/blobs-only/tags/list');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { name: 'list/blobs-only', tags: [] });
  });

  test('a manifest pushed only by digest adds no tag', async () => {
    const config = makeBlob('{"untagged":1}');
    await pushBlob(registry.app, 'list/untagged', config);
    const manifest = imageManifest({ config });
    await pushManifestOk(registry.app, 'list/untagged', manifest.digest, manifest);
    assert.deepEqual((await get('/v2/list/untagged/tags/list')).json().tags, []);
  });

  test('tags list with a bad name is NAME_INVALID', async () => {
    assertError(await get('/v2/List/App/tags/list'), 400, 'NAME_INVALID');
  });

  const allRepos = (): string[] => [...REPOS, 'list/app', 'list/untagged'].sort();

  test('catalog: every repository with manifests, sorted', async () => {
    const res = await get('/v2/_catalog');
    assert.equal(res.statusCode, 200);
    assertApiVersion(res);
    assert.deepEqual(res.json(), { repositories: allRepos() });
    assert.equal(res.headers.link, undefined);
  });

  test('catalog pagination with Link, and none on the last page', async () => {
    const first = await get('/v2/_catalog?n=2');
    assert.deepEqual(first.json().repositories, allRepos().slice(0, 2));
    assert.equal(first.headers.link, `</v2/_catalog?n=2&last=${encodeURIComponent(allRepos()[1]!)}>; rel="next"`);
    const seen: string[] = [];
    let url: string | undefined = '/v2/_catalog?n=2';
    while (url) {
      const res = await get(url);
      seen.push(...res.json().repositories);
      const link = res.headers.link as string | undefined;
      url = link ? /^<([^>]+)>/.exec(link)![1] : undefined;
    }
    assert.deepEqual(seen, allRepos());
    const last = await get(`/v2/_catalog?n=2&last=${encodeURIComponent(allRepos().at(-3)!)}`);
    assert.deepEqual(last.json().repositories, allRepos().slice(-2));
    assert.equal(last.headers.link, undefined);
  });

  test('catalog n=0 is an empty list; last names a repository with a slash', async () => {
    const res = await get('/v2/_catalog?n=0');
    assert.deepEqual(res.json().repositories, []);
    assert.equal(res.headers.link, undefined);
    assert.deepEqual((await get(`/v2/_catalog?last=${encodeURIComponent('beta/one')}`)).json().repositories, allRepos().filter((r) => r > 'beta/one'));
  });

  test('tags deleted from a repository leave the tag list; the repository stays known', async () => {
    const { manifest } = await pushImage(registry.app, 'list/shrinking', 'only');
    assert.equal((await registry.app.inject({ method: 'DELETE', url: `/v2/list/shrinking/manifests/${manifest.digest}` })).statusCode, 202);
    const res = await get('/v2/list/shrinking/tags/list');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json().tags, []);
  });
});

describe('catalog of an empty registry', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await createTestRegistry();
  });
  after(() => registry.close());

  test('is an empty list', async () => {
    const res = await registry.app.inject({ method: 'GET', url: '/v2/_catalog' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { repositories: [] });
    const paged = await registry.app.inject({ method: 'GET', url: '/v2/_catalog?n=10' });
    assert.deepEqual(paged.json(), { repositories: [] });
    assert.equal(paged.headers.link, undefined);
  });
});
