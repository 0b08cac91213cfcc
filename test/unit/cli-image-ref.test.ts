import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseImageRef, upstreamNames } from '../../src/cli/image-ref.ts';

describe('item 17: what a prefetch name maps to', () => {
  const hub = 'https://registry-1.docker.io';
  const seed = 'http://192.168.64.150:5000';

  test('item 17: Docker Hub puts one-word names under library/; a registry:2 seed takes names as written', () => {
    assert.deepEqual(upstreamNames(parseImageRef('nginx:1.14'), [hub, seed]), [
      { registry: 'docker.io', name: 'library/nginx:1.14' },
      { registry: '192.168.64.150:5000', name: 'nginx:1.14' },
    ]);
    assert.deepEqual(upstreamNames(parseImageRef('library/nginx:1.14'), [seed]), [{ registry: '192.168.64.150:5000', name: 'library/nginx:1.14' }]);
    const digest = `sha256:${'a'.repeat(64)}`;
    assert.deepEqual(upstreamNames(parseImageRef(`docker.io/nginx@${digest}`), [seed]), [{ registry: 'docker.io', name: `library/nginx@${digest}` }]);
  });
});
