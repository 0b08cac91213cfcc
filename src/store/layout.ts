import { join } from 'node:path';
import type { Digest } from '../oci/index.ts';

/**
 * Paths of the distribution (registry:2) filesystem driver's layout, so a registry:2 root
 * directory is served in place and registry:2 can read what shoal writes. Callers pass
 * validated repository names and tags only (see src/oci), which cannot contain `..`.
 */
export class Layout {
  readonly root: string;
  readonly v2: string;
  /** shoal's own scratch space: same filesystem as the blobs, so rename is atomic; outside the registry tree. */
  readonly tmp: string;
  /** What clients deleted from repositories (deletion-marks.ts); shoal's own, outside the registry tree. */
  readonly deleted: string;

  constructor(root: string) {
    this.root = root;
    this.v2 = join(root, 'docker', 'registry', 'v2');
    this.tmp = join(root, 'shoal', 'tmp');
    this.deleted = join(root, 'shoal', 'deleted');
  }

  blobDir(digest: Digest): string {
    return join(this.v2, 'blobs', digest.algorithm, digest.hex.slice(0, 2), digest.hex);
  }

  blobData(digest: Digest): string {
    return join(this.blobDir(digest), 'data');
  }

  blobsRoot(): string {
    return join(this.v2, 'blobs');
  }

  repositoriesRoot(): string {
    return join(this.v2, 'repositories');
  }

  repository(name: string): string {
    return join(this.repositoriesRoot(), ...name.split('/'));
  }

  layerLink(name: string, digest: Digest): string {
    return join(this.repository(name), '_layers', digest.algorithm, digest.hex, 'link');
  }

  revisionsDir(name: string): string {
    return join(this.repository(name), '_manifests', 'revisions');
  }

  revisionLink(name: string, digest: Digest): string {
    return join(this.revisionsDir(name), digest.algorithm, digest.hex, 'link');
  }

  tagsDir(name: string): string {
    return join(this.repository(name), '_manifests', 'tags');
  }

  tagDir(name: string, tag: string): string {
    return join(this.tagsDir(name), tag);
  }

  tagCurrentLink(name: string, tag: string): string {
    return join(this.tagDir(name, tag), 'current', 'link');
  }

  tagIndexLink(name: string, tag: string, digest: Digest): string {
    return join(this.tagDir(name, tag), 'index', digest.algorithm, digest.hex, 'link');
  }

  uploadsDir(name: string): string {
    return join(this.repository(name), '_uploads');
  }

  uploadDir(name: string, id: string): string {
    return join(this.uploadsDir(name), id);
  }

  uploadData(name: string, id: string): string {
    return join(this.uploadDir(name, id), 'data');
  }

  uploadStartedAt(name: string, id: string): string {
    return join(this.uploadDir(name, id), 'startedat');
  }
}
