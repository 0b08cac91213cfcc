import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readTextIfExists, writeFileAtomic } from './files.ts';

export type DeletedKind = 'blob' | 'manifest' | 'tag';

/**
 * What a client deleted from a repository on this host, and when. In a repository the swarm
 * mirrors, a deleted blob or manifest is still in this host's content store (other repositories
 * may share it) and a deleted tag still in the swarm's tag records, so without a mark the next GET
 * brought it straight back: DELETE answered 202 and the GET after it 200, where the distribution
 * spec wants 404. A mark goes once the reference is linked into the repository again (a push, a
 * mount, a fetch). Kept on disk beside shoal's scratch space, outside registry:2's tree, and
 * written durably before the DELETE is answered, so neither a restart nor a crash undoes a delete.
 */
export class DeletionMarks {
  readonly #root: string;
  readonly #tmpDir: string;

  constructor(root: string, tmpDir: string) {
    this.#root = root;
    this.#tmpDir = tmpDir;
  }

  async mark(name: string, kind: DeletedKind, key: string, at = Date.now()): Promise<void> {
    const path = this.#path(name, kind, key);
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, String(at), this.#tmpDir);
  }

  /** When the reference was deleted, if it was and has not come back since. */
  async markedAt(name: string, kind: DeletedKind, key: string): Promise<number | undefined> {
    const text = await readTextIfExists(this.#path(name, kind, key));
    if (text === undefined) return undefined;
    // A foreign file still says "deleted"; its time is unknown, so as old as can be.
    const at = Number(text.trim());
    return Number.isFinite(at) ? at : 0;
  }

  async clear(name: string, kind: DeletedKind, key: string): Promise<void> {
    await rm(this.#path(name, kind, key), { force: true });
  }

  // Repository names, tags and digests are validated before they get here: none holds `..` or
  // starts with `/`, and a digest's `:` is an ordinary character in a file name.
  #path(name: string, kind: DeletedKind, key: string): string {
    return join(this.#root, name, `_${kind}`, key);
  }
}
