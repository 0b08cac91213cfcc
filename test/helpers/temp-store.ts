// A Store in a fresh temp dir for every test of the enclosing describe, removed after the test.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'node:test';
import { Store } from '../../src/store/index.ts';

export interface TempStore {
  /** The store's root (set before each test). */
  readonly dir: string;
  readonly store: Store;
}

export function tempStorePerTest(prefix: string): TempStore {
  const current = { dir: '', store: undefined as unknown as Store };
  beforeEach(async () => {
    current.dir = await mkdtemp(join(tmpdir(), prefix));
    ({ store: current.store } = await Store.open(current.dir));
  });
  // Retries: a reader's file handle may still be closing when the test ends.
  afterEach(() => rm(current.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));
  return current;
}
