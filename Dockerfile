# shoal: the registry mirror daemon as a container image. Node 22 + the app and its production
# dependencies, run as the non-root user shoal (10001), data in the volume /var/lib/shoal.
#
# No base image is pulled from anywhere: deploy/build-images.sh makes the two this file names
# (shoal/node:22-build: Debian 12 minbase + Node + npm; shoal/node:22: just Node and the glibc
# libraries it loads, no shell) and then builds this file:
#   deploy/build-images.sh base shoal        # or by hand, once the bases exist:
#   docker build --network host -t shoal .   # npm ci in the build stage needs the npm registry
#
# Run one per host, on the host's network so that mDNS and the peer ports reach the LAN; the
# registry API stays on the host's loopback (SHOAL_LISTEN below), where docker pulls from it:
#   docker run -d --name shoal --restart always --network host \
#     -e SHOAL_UPSTREAM=http://192.168.64.150:5000 -v shoal-data:/var/lib/shoal shoal
# On a bridge network, other containers reach the API only with SHOAL_LISTEN=0.0.0.0:5000, which
# shoal refuses without SHOAL_HTPASSWD (a mounted htpasswd file) or SHOAL_ALLOW_INSECURE_LISTEN=true:
# that address accepts pushes. Settings are the SHOAL_* variables of `docker run --rm shoal --help`;
# set the listen address with SHOAL_LISTEN rather than --listen so the HEALTHCHECK asks the right port.
ARG BUILD_IMAGE=shoal/node:22-build
ARG RUNTIME_IMAGE=shoal/node:22

FROM ${BUILD_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Every dependency first: esbuild bundles the daemon's JavaScript (npm run build: dist/), which
# runs without Node's type stripping and without the source text of ~1,400 modules (~30 MiB less
# RSS, bench/memory.bench.ts). None of the
# packages runs an install script here. Then only the production ones are kept; source maps, type
# declarations and markdown are half of their bytes and never read at run time.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY bin/ ./bin/
COPY src/ ./src/
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/
COPY deploy/docker-healthcheck.mjs deploy/check-imports.mjs ./deploy/
# The image ships the build alone: with no sources beside it, bin/shoal.js runs dist/.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf /root/.npm src scripts tsconfig.json tsconfig.build.json \
 && find node_modules -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -iname '*.md' \) -delete
# Load every module once: a runtime import of a devDependency fails the build here, not at start.
RUN node bin/shoal.js --version \
 && node deploy/check-imports.mjs /app \
 && mkdir -p /state/var/lib/shoal

FROM ${RUNTIME_IMAGE}
# Owned by root: the shoal user can read the app, not change it.
COPY --from=build /app /app
COPY --from=build --chown=10001:10001 /state/var/lib/shoal /var/lib/shoal
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=1 \
    MALLOC_MMAP_THRESHOLD_=262144 \
    SHOAL_LISTEN=127.0.0.1:5000 \
    SHOAL_DATA_DIR=/var/lib/shoal
USER 10001:10001
WORKDIR /var/lib/shoal
VOLUME ["/var/lib/shoal"]
# 5000 registry API (docker pulls here), 5001 libp2p control plane (mDNS finds it), 5002 peer data + /metrics
EXPOSE 5000 5001 5002
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "/app/deploy/docker-healthcheck.mjs"]
# shoal handles SIGTERM itself (drains, then exits), so node can be PID 1.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--max-semi-space-size=2", "--heap-growing-percent=50", "/app/bin/shoal.js"]
CMD ["serve"]
