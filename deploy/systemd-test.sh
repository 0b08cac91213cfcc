#!/usr/bin/env bash
# Runs deploy/shoal.service under a real systemd, in a container (this machine's PID 1 is not
# systemd): installs this checkout with deploy/install.sh --root into an image made from
# shoal/debian:bookworm + Debian's systemd, boots it, and checks that the hardened service
#   starts and answers /v2/ and /metrics; runs as shoal with no capabilities, NoNewPrivs and a
#   seccomp filter; sees / read-only and /var/lib/shoal writable (a blob push lands there);
#   comes back after kill -9 (Restart=always); stops cleanly on systemctl stop (drain, exit 0).
# Prints one line per check and "systemd-test: PASS", or the failing check and the journal.
# Needs root, dockerd, shoal/debian:bookworm (deploy/build-images.sh base), apt access for the
# image and the npm registry for install.sh. The container gets CAP_SYS_ADMIN (systemd mounts the
# service's namespaces) and no seccomp profile; --privileged is not needed.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${SHOAL_IMAGE_WORKDIR:-/var/tmp/shoal-images}/systemd-test
image=shoal/systemd-test:latest
name=shoal-systemd-test-$$
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}

log() { printf 'systemd-test: %s\n' "$*"; }
die() { printf 'systemd-test: FAIL: %s\n' "$*" >&2; docker exec "$name" journalctl -u shoal --no-pager -n 30 >&2 2>/dev/null || true; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
docker image inspect shoal/debian:bookworm >/dev/null 2>&1 || die "no shoal/debian:bookworm: run deploy/build-images.sh base"

rm -rf "$work" && mkdir -p "$work/root/etc"
"$repo/deploy/install.sh" --root "$work/root" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; die "install.sh --root failed"; }
# A seed that is not there: the checks need no pull-through.
printf 'SHOAL_UPSTREAM=http://127.0.0.1:5999\n' >"$work/root/etc/default/shoal"
# The image keeps its own user database; systemd-sysusers adds shoal to it below.
rm -f "$work"/root/etc/{passwd,group,shadow,gshadow}*
cat >"$work/Dockerfile" <<'EOF'
ARG BASE_IMAGE=shoal/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd systemd-sysv curl >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY root/ /
RUN systemd-sysusers && chgrp shoal /etc/shoal /etc/default/shoal \
 && systemctl enable shoal.service \
 && systemctl mask getty@tty1.service console-getty.service systemd-logind.service
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
EOF
log "building $image"
docker build -q --network host -t "$image" "$work" >"$work/build.log" 2>&1 || { tail -20 "$work/build.log" >&2; die "docker build failed"; }

cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT
docker run -d --name "$name" --network none --cap-add SYS_ADMIN --security-opt seccomp=unconfined \
  --tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup "$image" >/dev/null
inside() { docker exec "$name" bash -c "$1"; }

for _ in $(seq 1 60); do
  [ "$(inside 'curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:5000/v2/' 2>/dev/null)" = 200 ] && break
  sleep 1
done
[ "$(inside 'curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:5000/v2/')" = 200 ] || die "/v2/ does not answer 200"
log "ok: active, /v2/ answers 200"
inside 'curl -fsS http://127.0.0.1:5002/metrics | grep -q "^shoal_seed_bytes_total"' || die "no /metrics on the peer port"
log "ok: /metrics on :5002"

pid=$(inside 'systemctl show -p MainPID --value shoal')
[ "$(inside "stat -c %U /proc/$pid")" = shoal ] || die "the main process does not run as shoal"
inside "grep -q '^CapEff:[[:space:]]*0000000000000000' /proc/$pid/status" || die "the process has capabilities"
inside "grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$pid/status" || die "NoNewPrivs is off"
inside "grep -q '^Seccomp:[[:space:]]*2' /proc/$pid/status" || die "no seccomp filter"
log "ok: runs as shoal, no capabilities, NoNewPrivs, seccomp filter"
inside "awk '\$5 == \"/\" { print \$6 }' /proc/$pid/mountinfo | grep -q '^ro'" || die "/ is writable for the service"
inside "awk '\$5 == \"/var/lib/shoal\" { print \$6 }' /proc/$pid/mountinfo | grep -q '^rw'" || die "/var/lib/shoal is not writable for the service"
digest=$(printf 'systemd-test' | sha256sum | cut -d' ' -f1)
[ "$(inside "curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary systemd-test -H 'Content-Type: application/octet-stream' 'http://127.0.0.1:5000/v2/t/blobs/uploads/?digest=sha256:$digest'")" = 201 ] ||
  die "a blob push was refused"
inside "test -f /var/lib/shoal/docker/registry/v2/blobs/sha256/${digest:0:2}/$digest/data" || die "the pushed blob is not in /var/lib/shoal"
[ "$(inside 'stat -c %U:%a /var/lib/shoal')" = shoal:750 ] || die "/var/lib/shoal is not shoal's, mode 750"
log "ok: / read-only, /var/lib/shoal (shoal, 750) writable: a pushed blob landed there"

inside "kill -9 $pid"
for _ in $(seq 1 30); do
  new=$(inside 'systemctl show -p MainPID --value shoal')
  [ "$new" != 0 ] && [ "$new" != "$pid" ] && [ "$(inside 'curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:5000/v2/')" = 200 ] && break
  sleep 1
done
[ "$new" != "$pid" ] && [ "$new" != 0 ] || die "not restarted after kill -9"
log "ok: restarted after kill -9 (pid $pid -> $new, NRestarts=$(inside 'systemctl show -p NRestarts --value shoal'))"

inside 'systemctl stop shoal'
[ "$(inside 'systemctl show -p Result --value shoal')" = success ] || die "systemctl stop did not end in success"
inside 'journalctl -u shoal --no-pager | grep -q "shutting down: draining"' || die "no drain on SIGTERM"
log "ok: systemctl stop drains and exits 0"
log "PASS"
