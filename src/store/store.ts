import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BlobStore } from './blobs.ts';
import { Layout } from './layout.ts';
import { ManifestStore } from './manifests.ts';
import { recoverStore } from './recovery.ts';
import { RepositoryStore } from './repositories.ts';
import { UploadStore } from './uploads.ts';
import { BlobUsage } from './usage.ts';
import { PushedManifests } from './pushed.ts';

export interface StoreOpenOptions {
  /**
   * Remove what a crash left half-written (the default). Off for tools that look at a data
   * directory a running daemon may be using (`shoal gc --dry-run`): its temp files are live.
   */
  readonly recover?: boolean;
}

/** The data directory: a registry:2 root (`<root>/docker/registry/v2`) plus shoal's scratch space. */
export class Store {
  readonly layout: Layout;
  readonly blobs: BlobStore;
  readonly repositories: RepositoryStore;
  readonly manifests: ManifestStore;
  readonly uploads: UploadStore;
  /** Manifests pushed here through the API (eviction keeps what they reference). */
  readonly pushed: PushedManifests;
  /**
   * Tags this node took from its seed, at the digest it took (`shoal/seed-tags.json`): only such a
   * tag is withdrawn when the seed answers 404 for it; one from a push or from the swarm is not.
   */
  readonly seedTags: PushedManifests;

  private constructor(layout: Layout, usage: BlobUsage, pushed: PushedManifests, seedTags: PushedManifests) {
    this.layout = layout;
    this.seedTags = seedTags;
    this.blobs = new BlobStore(this.layout, usage);
    this.repositories = new RepositoryStore(this.layout);
    this.pushed = pushed;
    this.manifests = new ManifestStore(this.blobs, this.repositories, pushed);
    this.uploads = new UploadStore(this.layout, this.blobs.notifyPushed);
    // A tag gone from here (deleted, or withdrawn by the seed) is no longer one this node took from
    // its seed: without this the record grew with every tag ever pulled. A failed write only
    // leaves a stale line, which says nothing about a tag pulled again (that writes it anew).
    this.repositories.onUntagged((name, tag) => void seedTags.forgetTag(name, tag).catch(() => undefined));
  }

  /** Opens (creating if needed) a data directory and removes what a crash left half-written. */
  static async open(root: string, options: StoreOpenOptions = {}): Promise<{ store: Store; removedTempFiles: number; warnings: string[] }> {
    const absolute = resolve(root);
    await mkdir(absolute, { recursive: true });
    const layout = new Layout(absolute);
    // Without recovery (a tool beside a running daemon) nothing evicts: kept partials go uncounted.
    const { removedTempFiles, kept } = options.recover === false ? { removedTempFiles: 0, kept: [] } : await recoverStore(layout);
    const warnings: string[] = [];
    const seedTags = await PushedManifests.load(layout, 'seed-tags.json', { forget: (message) => warnings.push(message) });
    const store = new Store(layout, await BlobUsage.load(layout), await PushedManifests.load(layout), seedTags);
    store.blobs.countKept(kept);
    return { store, removedTempFiles, warnings };
  }
}
