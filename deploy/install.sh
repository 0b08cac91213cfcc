#!/usr/bin/env bash
# Installs shoal as a systemd service on this host, from this checkout:
#   /opt/shoal/                       bin/, src/, dist/ (the JavaScript build), package*.json,
#                                     tsconfig*.json (bin/shoal.js runs dist/ only when it was made
#                                     from these settings and sources), README.md, production
#                                     node_modules
#   /opt/shoal/runtime/node           Node 22 (the one `npm ci` put in node_modules/node; Debian 12's
#                                     own nodejs is 18, too old)
#   /usr/lib/sysusers.d/shoal.conf    the system user shoal (deploy/shoal.sysusers)
#   /etc/systemd/system/shoal.service deploy/shoal.service
#   /etc/default/shoal                deploy/shoal.env.example, only when there is none yet
#   /etc/shoal/                       for the cluster key, htpasswd, password files (root:shoal 0750)
# then enables and (re)starts the service, where systemd runs.
#
# Usage: sudo deploy/install.sh [--root DIR] [--no-start]
#   --root DIR   install into the tree DIR (an image being built, a test); implies --no-start
#   --no-start   install only; then: systemctl daemon-reload && systemctl enable --now shoal
# Environment: SHOAL_NODE_BIN (Node 22 to install; default node_modules/node/bin/node).
# Needs npm and the npm registry (npm ci --omit=dev), and root.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=
start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=${2:?--root needs a folder}; start=0; shift 2 ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install: unknown argument $1" >&2; exit 2 ;;
  esac
done
log() { printf 'install: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
node_bin=${SHOAL_NODE_BIN:-$repo/node_modules/node/bin/node}
[ -x "$node_bin" ] || die "no Node at $node_bin: run npm ci in $repo first, or set SHOAL_NODE_BIN"
case "$("$node_bin" --version)" in v22.*) ;; *) die "$node_bin is not Node 22" ;; esac
command -v npm >/dev/null || die "npm is needed for npm ci --omit=dev"

prefix=$root/opt/shoal
mkdir -p "$root/etc/default" "$root/etc/systemd/system" "$root/usr/lib/sysusers.d" "$root/opt"

# The user first: the files below are handed to its group.
install -m 0644 "$repo/deploy/shoal.sysusers" "$root/usr/lib/sysusers.d/shoal.conf"
if command -v systemd-sysusers >/dev/null; then
  systemd-sysusers ${root:+--root="$root"} - <"$repo/deploy/shoal.sysusers"
elif ! grep -q '^shoal:' "$root/etc/passwd" 2>/dev/null; then
  useradd ${root:+--root "$root"} --system --user-group --home-dir /var/lib/shoal --no-create-home --shell /usr/sbin/nologin shoal
fi

# The app, assembled next to the old one and swapped in whole.
staging=$(mktemp -d "$root/opt/.shoal-install.XXXXXX")
trap 'rm -rf "$staging"' EXIT
# The daemon's JavaScript build, made here unless current (it runs without Node's type stripping,
# ~15 MiB less RSS); where TypeScript is not installed, the installed shoal runs its sources.
"$node_bin" "$repo/scripts/build.mjs" >&2
cp -r "$repo/bin" "$repo/src" "$repo/package.json" "$repo/package-lock.json" "$repo/tsconfig.json" "$repo/tsconfig.build.json" "$repo/README.md" "$staging/"
[ ! -d "$repo/dist" ] || cp -r "$repo/dist" "$staging/"
log "npm ci --omit=dev in $staging"
(cd "$staging" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
mkdir -p "$staging/runtime"
install -m 0755 "$node_bin" "$staging/runtime/node"
chown -R 0:0 "$staging" && chmod -R go-w,a+rX "$staging"
"$staging/runtime/node" "$staging/bin/shoal.js" --version >/dev/null || die "the installed shoal does not start"
"$staging/runtime/node" "$repo/deploy/check-imports.mjs" "$staging" >/dev/null ||
  die "a module of the installed shoal does not load (a runtime import missing from dependencies?)"
[ ! -e "$prefix" ] || mv "$prefix" "$prefix.old"
mv "$staging" "$prefix"
rm -rf "$prefix.old"
trap - EXIT

install -m 0644 "$repo/deploy/shoal.service" "$root/etc/systemd/system/shoal.service"
if [ ! -e "$root/etc/default/shoal" ]; then
  install -m 0640 -o 0 -g 0 "$repo/deploy/shoal.env.example" "$root/etc/default/shoal"
  log "wrote $root/etc/default/shoal from shoal.env.example: set SHOAL_UPSTREAM there"
fi
install -d -m 0750 -o 0 -g 0 "$root/etc/shoal"
gid=$(awk -F: '$1 == "shoal" { print $3 }' "$root/etc/group")
[ -z "$gid" ] || chgrp "$gid" "$root/etc/shoal"
log "installed shoal $("$prefix/runtime/node" "$prefix/bin/shoal.js" --version) in $prefix"

if [ "$start" = 1 ]; then
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable shoal.service
    systemctl restart shoal.service
    log "started: systemctl status shoal; journalctl -u shoal -f"
  else
    log "systemd is not running here: installed only (start it with systemctl enable --now shoal)"
  fi
fi
