import { OciError } from './errors.ts';
import { parseDigest, type Digest } from './digest.ts';

export const MEDIA_TYPES = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

export const MANIFEST_MEDIA_TYPES: readonly string[] = Object.values(MEDIA_TYPES).filter((t) => t !== MEDIA_TYPES.ociEmpty);
export const INDEX_MEDIA_TYPES: readonly string[] = [MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.ociIndex];

/** The spec asks registries to accept manifests of at least 4 MiB; larger ones are refused. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Record<string, string>;
  /** An index entry's platform. */
  readonly platform?: { readonly os: string; readonly architecture: string; readonly variant?: string };
  /** Where a non-distributable (foreign) layer's bytes live instead of the registry. */
  readonly urls?: readonly string[];
}

export interface ParsedManifest {
  readonly mediaType: string;
  /** config and layers: blobs that must exist in the repository */
  readonly blobs: readonly Descriptor[];
  /** an index's children: manifests that must exist in the repository */
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  /** artifactType, or for an image manifest without one, config.mediaType (as the referrers API reports it) */
  readonly artifactType?: string;
  readonly annotations?: Record<string, string>;
}

function invalid(message: string): OciError {
  return new OciError('MANIFEST_INVALID', message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(`${where} must be an object of strings`);
  }
  return value as Record<string, string>;
}

export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isRecord(value)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size, artifactType, annotations } = value;
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(`${where}.mediaType must be a non-empty string`);
  if (typeof digest !== 'string') throw invalid(`${where}.digest must be a string`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}.size must be a non-negative integer`);
  if (artifactType !== undefined && typeof artifactType !== 'string') throw invalid(`${where}.artifactType must be a string`);
  let parsed: Digest;
  try {
    parsed = parseDigest(digest);
  } catch (error) {
    throw invalid(`${where}.digest: ${(error as Error).message}`);
  }
  const descriptor: Descriptor = { mediaType, digest: parsed, size };
  const { platform, urls } = value;
  return {
    ...descriptor,
    ...(isRecord(platform) && typeof platform.os === 'string' && typeof platform.architecture === 'string'
      ? { platform: { os: platform.os, architecture: platform.architecture, ...(typeof platform.variant === 'string' ? { variant: platform.variant } : {}) } }
      : {}),
    ...(Array.isArray(urls) && urls.every((u) => typeof u === 'string') ? { urls: urls as string[] } : {}),
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(annotations !== undefined ? { annotations: stringMap(annotations, `${where}.annotations`)! } : {}),
  };
}

function descriptorList(value: unknown, where: string): Descriptor[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(`${where} must be an array`);
  return value.map((entry, i) => parseDescriptor(entry, `${where}[${i}]`));
}

/** Strips parameters (`; charset=utf-8`) and lowercases, so header values compare. */
export function bareMediaType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  return contentType.split(';')[0]!.trim().toLowerCase() || undefined;
}

/**
 * Parses and validates a manifest body. `contentType` is the request's Content-Type; when the
 * body carries a mediaType too they must agree. Throws MANIFEST_INVALID with a message that says
 * what is wrong.
 */
export function parseManifest(body: Uint8Array, contentType: string | undefined): ParsedManifest {
  if (body.byteLength > MAX_MANIFEST_BYTES) {
    throw invalid(`manifest is ${body.byteLength} bytes; the limit is ${MAX_MANIFEST_BYTES}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (error) {
    throw invalid(`manifest is not valid JSON: ${(error as Error).message}`);
  }
  if (!isRecord(json)) throw invalid('manifest must be a JSON object');
  if (json.schemaVersion !== 2) {
    throw invalid(`unsupported manifest schemaVersion ${JSON.stringify(json.schemaVersion)}: shoal accepts schema 2 (Docker v2 and OCI); convert schema 1 images with a current docker or skopeo`);
  }
  const headerType = bareMediaType(contentType);
  const bodyType = typeof json.mediaType === 'string' ? json.mediaType : undefined;
  if (json.mediaType !== undefined && typeof json.mediaType !== 'string') throw invalid('mediaType must be a string');
  if (headerType && bodyType && headerType !== bodyType && MANIFEST_MEDIA_TYPES.includes(headerType)) {
    throw invalid(`Content-Type ${headerType} does not match the manifest's mediaType ${bodyType}`);
  }
  const mediaType = bodyType ?? (headerType && MANIFEST_MEDIA_TYPES.includes(headerType) ? headerType : undefined) ?? guessMediaType(json);
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    throw invalid(`unsupported manifest media type ${JSON.stringify(mediaType)}: expected one of ${MANIFEST_MEDIA_TYPES.join(', ')}`);
  }
  const isIndex = INDEX_MEDIA_TYPES.includes(mediaType);
  const subject = json.subject === undefined ? undefined : parseDescriptor(json.subject, 'subject');
  const annotations = stringMap(json.annotations, 'annotations');
  if (json.artifactType !== undefined && typeof json.artifactType !== 'string') throw invalid('artifactType must be a string');
  const common = {
    mediaType,
    ...(subject ? { subject } : {}),
    ...(annotations ? { annotations } : {}),
  };
  if (isIndex) {
    if (!Array.isArray(json.manifests)) throw invalid('an index must have a manifests array');
    const manifests = descriptorList(json.manifests, 'manifests');
    const artifactType = json.artifactType as string | undefined;
    return { ...common, blobs: [], manifests, ...(artifactType ? { artifactType } : {}) };
  }
  if (json.config === undefined) throw invalid('an image manifest must have a config descriptor');
  const config = parseDescriptor(json.config, 'config');
  if (!Array.isArray(json.layers)) throw invalid('an image manifest must have a layers array');
  const layers = descriptorList(json.layers, 'layers');
  const artifactType = (json.artifactType as string | undefined) ?? config.mediaType;
  return { ...common, blobs: [config, ...layers], manifests: [], artifactType };
}

function guessMediaType(json: Record<string, unknown>): string {
  // OCI allows mediaType to be absent; the shape tells index from manifest.
  if (Array.isArray(json.manifests)) return MEDIA_TYPES.ociIndex;
  return MEDIA_TYPES.ociManifest;
}

/**
 * Picks what to answer for an Accept header. Clients that send no manifest types get what was
 * stored (OCI clients accept anything they asked for; docker always sends a list).
 */
export function acceptsMediaType(acceptHeaders: string | string[] | undefined, mediaType: string): boolean {
  if (acceptHeaders === undefined) return true;
  const values = (Array.isArray(acceptHeaders) ? acceptHeaders : [acceptHeaders])
    .flatMap((h) => h.split(','))
    .map((v) => bareMediaType(v))
    .filter((v): v is string => v !== undefined);
  if (values.length === 0 || values.includes('*/*') || values.includes(mediaType)) return true;
  return !values.some((v) => MANIFEST_MEDIA_TYPES.includes(v));
}
