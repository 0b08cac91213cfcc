#!/usr/bin/env bash
# The whole test suite on a Debian/Ubuntu machine, from nothing: installs the real parts the tests
# use, starts dockerd when no docker daemon answers, runs `npm test`, and stops what it started.
# `npm run test:all` and CI (.ci/run) both run this, so the two never drift.
#   scripts/test-all.sh           install, start, test (as root; re-runs itself with sudo otherwise)
#   scripts/test-all.sh --check   only print what it would install and start
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
# A user's PATH on Debian lacks the sbin directories, where dockerd and tc live; root's has them.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# What the suite needs, one package a line: the Debian package, the program that shows it is there
# (a|b: either one), and the environment variable the tests read instead, if any.
# scripts/preflight.ts reads this block too (npm test's check): keep the format.
REQUIREMENTS='
docker-registry  /usr/bin/docker-registry  SHOAL_TEST_REGISTRY_BIN
skopeo           skopeo                    SHOAL_TEST_SKOPEO_BIN
docker.io        docker
docker-compose   docker-compose|/usr/libexec/docker/cli-plugins/docker-compose|/usr/lib/docker/cli-plugins/docker-compose
chromium         /usr/bin/chromium         SHOAL_TEST_CHROMIUM
iproute2         ip
openssl          openssl
curl             curl
systemd          systemd-analyze
'

say() { echo "test-all: $*"; }

has_program() { # alternatives separated by |; a path must be executable, a name on PATH
  local alt
  IFS='|' read -ra alts <<<"$1"
  for alt in "${alts[@]}"; do
    if [[ $alt == */* ]]; then [[ -x $alt ]] && return 0; else command -v "$alt" >/dev/null && return 0; fi
  done
  return 1
}

missing_packages() {
  local pkg programs override
  while read -r pkg programs override; do
    [[ -z $pkg ]] && continue
    if [[ -n $override && -n ${!override:-} ]]; then programs=${!override}; fi
    has_program "$programs" || echo "$pkg"
  done <<<"$REQUIREMENTS"
}

docker_answers() { command -v docker >/dev/null && timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

mapfile -t need < <(missing_packages)

if [[ ${1:-} == --check ]]; then
  if [[ ${#need[@]} -gt 0 ]]; then say "would install: ${need[*]}"; else say "nothing to install"; fi
  if docker_answers; then say "dockerd already answers"; else say "would start dockerd"; fi
  exit 0
fi

if [[ ! -x node_modules/.bin/node ]]; then
  # Before sudo, so node_modules belongs to whoever runs this.
  say "node_modules is missing: running npm ci"
  npm ci --no-audit --no-fund
fi

if [[ $(id -u) -ne 0 ]]; then
  # The suite needs root (network namespaces, tmpfs mounts), and so do apt-get and dockerd.
  command -v sudo >/dev/null || { say "run this as root (or install sudo)"; exit 1; }
  exec sudo -E env "PATH=$PATH" bash "$self" "$@"
fi

if [[ ${#need[@]} -gt 0 ]]; then
  had_registry=$(dpkg-query -W -f='${Status}' docker-registry 2>/dev/null || true)
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The package starts its own registry on :5000, where `npm start` puts shoal; the tests need
  # only the binary (their seeds use free ports). Stop that service only when this run installed it.
  if [[ $had_registry != *' installed' ]]; then
    if [[ -d /run/systemd/system ]]; then
      if systemctl is-active --quiet docker-registry; then
        say "stopping and disabling the docker-registry service the package started (:5000)"
        systemctl disable --now docker-registry
      fi
    elif [[ -f /var/run/docker-registry.pid ]] && kill -0 "$(cat /var/run/docker-registry.pid)" 2>/dev/null; then
      say "stopping the docker-registry service the package started (:5000)"
      /etc/init.d/docker-registry stop >/dev/null  # by its pid file
      update-rc.d docker-registry disable >/dev/null 2>&1 || true
    fi
  fi
else
  say "nothing to install"
fi

work=$(mktemp -d /tmp/shoal-test-all.XXXXXX)
dockerd_pid=''
stop_dockerd() { # only the one this run started, by its pid
  if [[ -n $dockerd_pid ]] && kill -0 "$dockerd_pid" 2>/dev/null; then
    say "stopping the dockerd it started (pid $dockerd_pid)"
    kill -TERM "$dockerd_pid"
    for _ in $(seq 1 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$dockerd_pid" 2>/dev/null; then kill -KILL "$dockerd_pid"; fi
  fi
  dockerd_pid=''
}
trap 'stop_dockerd; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

if docker_answers; then
  say "dockerd already answers"
else
  say "starting dockerd --storage-driver=vfs (log: $work/dockerd.log)"
  # Its run-time state (pid files, containerd's socket) goes under this run's own directory: a
  # machine restored from a snapshot keeps /var/run/docker, and a stale containerd.pid naming a pid
  # that now belongs to another process makes dockerd wait for a containerd that never answers.
  dockerd --storage-driver=vfs --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
    >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 60); do docker_answers && break; sleep 1; done
  docker_answers || { say "dockerd did not start; its log:"; tail -50 "$work/dockerd.log"; exit 1; }
fi

# The spec reporter is for people; CI reads the runner's TAP summary ("# pass N", "# fail N").
status=0
SHOAL_TEST_TAP="$work/results.tap" npm test || status=$?
stop_dockerd
echo
grep -E '^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ' "$work/results.tap" || say "the test runner wrote no summary"
exit "$status"
