import assert from 'node:assert/strict';
import { userInfo } from 'node:os';
import { test } from 'node:test';
import { unreadableReason } from '../../src/lib/fs-errors.ts';

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: something`), { code });

test('a file the service user may not read: the reason names that user and a command that lets it (keygen writes 0600, root-owned)', () => {
  const user = userInfo().username;
  assert.equal(
    unreadableReason('/etc/shoal/cluster.key', errno('EACCES')),
    `EACCES: the user shoal runs as (${user}) may not read it; give it read access, e.g. chown ${user} /etc/shoal/cluster.key (the folders above it must let that user through too)`,
  );
  assert.match(unreadableReason('/x', errno('EPERM')), /^EPERM: the user shoal runs as/);
});

test('any other failure: its errno code', () => {
  assert.equal(unreadableReason('/x', errno('ENOENT')), 'ENOENT');
  assert.equal(unreadableReason('/x', new Error('odd')), 'Error: odd');
});
