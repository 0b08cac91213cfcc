#!/usr/bin/env bash
# Runs docker-compose.test.yml end to end: builds the images (deploy/build-images.sh; skip with
# SHOAL_SKIP_BUILD=1 when they exist), brings up the seed, three shoal nodes and the client, exits
# with the client's status, and removes the containers, network and volumes again. On failure it
# prints the last lines of every service's log.
# Uses `docker compose` (v2 plugin) when there is one, else `docker-compose` (Debian's v1).
# Environment: COMPOSE_PROJECT_NAME (default shoaltest), SHOAL_COMPOSE_SUBNET, LAYER_SIZES,
# SHOAL_LOG_LEVEL: passed to the compose file.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

if docker compose version >/dev/null 2>&1; then compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then compose=(docker-compose)
else echo "compose-test: neither 'docker compose' nor 'docker-compose' (apt-get install docker-compose)" >&2; exit 1
fi
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-shoaltest}
run=("${compose[@]}" -f docker-compose.test.yml)

[ "${SHOAL_SKIP_BUILD:-0}" = 1 ] || deploy/build-images.sh all

cleanup() { "${run[@]}" down -v --remove-orphans >/dev/null 2>&1 || true; }
cleanup
trap cleanup EXIT
echo "+ ${run[*]} up --abort-on-container-exit --exit-code-from client" >&2
rc=0
"${run[@]}" up --abort-on-container-exit --exit-code-from client || rc=$?
if [ "$rc" != 0 ]; then
  echo "compose-test: failed ($rc); the services' last log lines:" >&2
  "${run[@]}" logs --no-color --tail 40 >&2 || true
fi
exit "$rc"
