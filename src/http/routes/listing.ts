import { OciError, MEDIA_TYPES, parseDigest } from '../../oci/index.ts';
import { paginate } from '../../distribute/listing.ts';
import type { RouteContext } from '../context.ts';
import { encodeName, type Endpoint } from '../paths.ts';

/** Upper bound on `n`, so one request cannot ask for an unbounded page. */
export const MAX_PAGE_SIZE = 10_000;

function pageSize(query: URLSearchParams): number | undefined {
  const raw = query.get('n');
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new OciError('PAGINATION_NUMBER_INVALID', `n must be a non-negative integer, not ${JSON.stringify(raw.slice(0, 40))}`);
  }
  return Math.min(n, MAX_PAGE_SIZE);
}

function link(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}

export async function listTags(ctx: RouteContext<Extract<Endpoint, { kind: 'tags' }>>): Promise<void> {
  const { endpoint, services, query, reply } = ctx;
  const n = pageSize(query);
  const tags = await services.listing.tags(endpoint.name);
  if (!tags) throw new OciError('NAME_UNKNOWN', `repository ${endpoint.name} is unknown here and upstream`, { name: endpoint.name });
  const { page, more } = paginate(tags, n, query.get('last') ?? undefined);
  if (more && n !== undefined) reply.header('link', link(`/v2/${encodeName(endpoint.name)}/tags/list`, n, page.at(-1)!));
  return void reply.code(200).send({ name: endpoint.name, tags: page });
}

export async function catalog(ctx: RouteContext<Extract<Endpoint, { kind: 'catalog' }>>): Promise<void> {
  const { services, query, reply } = ctx;
  const n = pageSize(query);
  const { page, more } = paginate(await services.listing.catalog(), n, query.get('last') ?? undefined);
  if (more && n !== undefined) reply.header('link', link('/v2/_catalog', n, page.at(-1)!));
  return void reply.code(200).send({ repositories: page });
}

export async function referrers(ctx: RouteContext<Extract<Endpoint, { kind: 'referrers' }>>): Promise<void> {
  const { endpoint, services, query, reply } = ctx;
  const subject = parseDigest(endpoint.digest);
  const artifactType = query.get('artifactType') ?? undefined;
  const found = await services.listing.referrers(endpoint.name, subject, artifactType);
  if (artifactType !== undefined) reply.header('oci-filters-applied', 'artifactType');
  // A Buffer, so fastify sends the Content-Type exactly as the spec names it (a string would get `; charset=utf-8`).
  return void reply
    .code(200)
    .header('content-type', MEDIA_TYPES.ociIndex)
    .send(
      Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: found.map((d) => ({
          mediaType: d.mediaType,
          digest: d.digest.value,
          size: d.size,
          ...(d.artifactType !== undefined ? { artifactType: d.artifactType } : {}),
          ...(d.annotations !== undefined ? { annotations: d.annotations } : {}),
        })),
      })),
    );
}
