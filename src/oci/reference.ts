import { OciError } from './errors.ts';
import { parseDigest, type Digest } from './digest.ts';

const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

export function isValidTag(input: string): boolean {
  return TAG.test(input);
}

export function parseTag(input: string): string {
  if (!TAG.test(input)) {
    throw new OciError('TAG_INVALID', `invalid tag ${JSON.stringify(input.slice(0, 140))}: up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'`);
  }
  return input;
}

/** A manifest reference is a tag or a digest; anything containing ':' is taken as a digest. */
export function parseReference(input: string): Reference {
  if (input.includes(':')) return { kind: 'digest', digest: parseDigest(input) };
  return { kind: 'tag', tag: parseTag(input) };
}

export function referenceString(ref: Reference): string {
  return ref.kind === 'tag' ? ref.tag : ref.digest.value;
}
