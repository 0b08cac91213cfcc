import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MAX_NAME_LENGTH, OciError, isValidRepositoryName, isValidTag, parseReference, parseRepositoryName, parseTag, referenceString, splitRegistryHost } from '../../src/oci/index.ts';

const alnum = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'), minLength: 1, maxLength: 8 });
const separator = fc.constantFrom('.', '_', '__', '-', '--', '---');
/** One path component as the spec's grammar builds it. */
const component = fc.tuple(alnum, fc.array(fc.tuple(separator, alnum), { maxLength: 3 })).map(([first, rest]) => first + rest.map(([s, a]) => s + a).join(''));
const validName = fc.array(component, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/')).filter((n) => n.length <= MAX_NAME_LENGTH);

const codeIs = (code: string) => (error: unknown): boolean => error instanceof OciError && error.code === code && error.status === 400;

describe('repository names', () => {
  test('accepts the usual names', () => {
    for (const name of ['nginx', 'library/nginx', 'a', 'a/b/c/d', 'my-app', 'my_app', 'my__app', 'my--app', 'registry.example.com/org/app', 'localhost/x', '0', 'a.b.c', `${'a'.repeat(127)}/${'b'.repeat(127)}`]) {
      assert.equal(parseRepositoryName(name), name, name);
      assert.ok(isValidRepositoryName(name));
    }
  });

  test('refuses bad names with NAME_INVALID', () => {
    for (const name of ['', 'Nginx', 'library/Nginx', 'a//b', '/a', 'a/', '.', '..', 'a/../b', 'a/./b', '../etc', '-a', 'a-', '_a', 'a_', 'a___b', 'a..b', 'a b', 'a%2Fb', 'a\\b', 'a\u0000b', 'a:5000/b', 'ä', 'a'.repeat(256), `${'a'.repeat(128)}/${'b'.repeat(127)}`]) {
      assert.throws(() => parseRepositoryName(name), codeIs('NAME_INVALID'), JSON.stringify(name));
      assert.equal(isValidRepositoryName(name), false);
    }
  });

  test('property: names built from the grammar are valid', () => {
    fc.assert(fc.property(validName, (name) => assert.equal(parseRepositoryName(name), name)));
  });

  test('property: a valid name with an uppercase letter, an empty or dot component is invalid', () => {
    const spoil = fc.constantFrom(
      (n: string) => n.toUpperCase(),
      (n: string) => `${n}//x`,
      (n: string) => `/${n}`,
      (n: string) => `${n}/`,
      (n: string) => `${n}/..`,
      (n: string) => `../${n}`,
      (n: string) => `${n}/.`,
      (n: string) => `${n}/${'x'.repeat(MAX_NAME_LENGTH)}`,
    );
    fc.assert(
      fc.property(validName.filter((n) => /[a-z]/.test(n)), spoil, (name, f) => {
        assert.throws(() => parseRepositoryName(f(name)), codeIs('NAME_INVALID'));
      }),
    );
  });

  test('property: any string is either a valid name (no path tricks) or NAME_INVALID', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'ab0./_-A%: \\'), maxLength: 40 }), (input) => {
        try {
          parseRepositoryName(input);
        } catch (error) {
          assert.ok(codeIs('NAME_INVALID')(error));
          return;
        }
        assert.ok(input.split('/').every((c) => c !== '' && c !== '.' && c !== '..' && /^[a-z0-9]/.test(c)), input);
        assert.doesNotMatch(input, /[A-Z%: \\]/);
      }),
      { numRuns: 3000 },
    );
  });

  test('splitRegistryHost tells a registry host from a path', () => {
    assert.deepEqual(splitRegistryHost('nginx'), { host: undefined, path: 'nginx' });
    assert.deepEqual(splitRegistryHost('library/nginx'), { host: undefined, path: 'library/nginx' });
    assert.deepEqual(splitRegistryHost('registry.example.com/org/app'), { host: 'registry.example.com', path: 'org/app' });
    assert.deepEqual(splitRegistryHost('localhost/app'), { host: 'localhost', path: 'app' });
    assert.deepEqual(splitRegistryHost('reg:5000/app'), { host: 'reg:5000', path: 'app' });
  });
});

describe('tags and references', () => {
  test('tags: up to 128 of [A-Za-z0-9_.-], not starting with . or -', () => {
    for (const tag of ['latest', 'v1.2.3', 'V1', '_private', '1', 'a-b_c.d', 't'.repeat(128), '0'.repeat(128)]) {
      assert.equal(parseTag(tag), tag);
      assert.ok(isValidTag(tag));
    }
    for (const tag of ['', '.hidden', '-dash', 't'.repeat(129), 'a b', 'a/b', 'a:b', 'a@b', 'ä', 'a\n', '..', 'a+b']) {
      assert.throws(() => parseTag(tag), codeIs('TAG_INVALID'), JSON.stringify(tag));
      assert.equal(isValidTag(tag), false);
    }
  });

  test('property: tag validity is exactly the grammar', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'aZ09_.-/: '), maxLength: 140 }), (tag) => {
        const expected = tag.length >= 1 && tag.length <= 128 && /^[A-Za-z0-9_]/.test(tag) && /^[A-Za-z0-9_.-]*$/.test(tag);
        assert.equal(isValidTag(tag), expected, tag);
      }),
      { numRuns: 2000 },
    );
  });

  test('parseReference: a colon means a digest', () => {
    const digest = `sha256:${'c'.repeat(64)}`;
    assert.deepEqual(parseReference('latest'), { kind: 'tag', tag: 'latest' });
    const ref = parseReference(digest);
    assert.equal(ref.kind, 'digest');
    assert.equal(referenceString(ref), digest);
    assert.equal(referenceString(parseReference('v1')), 'v1');
    assert.throws(() => parseReference('latest:1'), codeIs('DIGEST_INVALID'));
    assert.throws(() => parseReference('sha256:totallywrong'), codeIs('DIGEST_INVALID'));
    assert.throws(() => parseReference('-x'), codeIs('TAG_INVALID'));
  });

  test('property: parseReference never throws anything but TAG_INVALID or DIGEST_INVALID', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 150 }), (input) => {
        try {
          const ref = parseReference(input);
          assert.equal(referenceString(ref), input);
        } catch (error) {
          assert.ok(codeIs(input.includes(':') ? 'DIGEST_INVALID' : 'TAG_INVALID')(error), String(error));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
