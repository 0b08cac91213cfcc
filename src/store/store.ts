import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BlobStore } from './blobs.ts';
import { Layout } from './layout.ts';
import { ManifestStore } from './manifests.ts';
import { recoverStore } from './recovery.ts';
import { RepositoryStore } from './repositories.ts';
import { UploadStore } from './uploads.ts';

/** The data directory: a registry:2 root (`<root>/docker/registry/v2`) plus shoal's scratch space. */
export class Store {
  readonly layout: Layout;
  readonly blobs: BlobStore;
  readonly repositories: RepositoryStore;
  readonly manifests: ManifestStore;
  readonly uploads: UploadStore;

  private constructor(root: string) {
    this.layout = new Layout(root);
    this.blobs = new BlobStore(this.layout);
    this.repositories = new RepositoryStore(this.layout);
    this.manifests = new ManifestStore(this.blobs, this.repositories);
    this.uploads = new UploadStore(this.layout, this.blobs.notifyCommitted);
  }

  /** Opens (creating if needed) a data directory and removes what a crash left half-written. */
  static async open(root: string): Promise<{ store: Store; removedTempFiles: number }> {
    const absolute = resolve(root);
    await mkdir(absolute, { recursive: true });
    const store = new Store(absolute);
    const { removedTempFiles } = await recoverStore(store.layout);
    return { store, removedTempFiles };
  }
}
