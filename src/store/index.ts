export { Store } from './store.ts';
export { Layout } from './layout.ts';
export { BlobStore } from './blobs.ts';
export { BlobWriter } from './writer.ts';
export { PartialBlob, type ReaderOptions } from './partial.ts';
export { ManifestStore, type StoredManifest } from './manifests.ts';
export { RepositoryStore, compareLexical } from './repositories.ts';
export { UploadStore, rangeHeader, type UploadStatus } from './uploads.ts';
