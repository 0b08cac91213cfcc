#!/usr/bin/env bash
# Builds shoal's container images here, where no registry serves base images: every base image is
# made from files on this machine or from Debian's archive, then tagged with the names that
# Dockerfile, docker-compose.test.yml and test/compose use.
#
#   shoal/node:22            runtime base, FROM nothing: the Node 22 binary that `npm ci` put in
#                            node_modules/node (version pinned by package-lock.json), stripped, plus
#                            the few glibc libraries `ldd` says it loads, passwd/group with the
#                            shoal user (10001), /tmp. No shell, no package manager.
#   shoal/debian:bookworm    Debian 12 minbase made by debootstrap from the configured mirror, docs,
#                            locales and apt lists removed. Base of the build stage, seed and client.
#   shoal/node:22-build      shoal/debian:bookworm + the same Node + npm (npm@$NPM_VERSION from the
#                            npm registry) + this host's CA bundle, so npm trusts what this host
#                            trusts (a TLS-inspecting proxy's CA, say): the Dockerfile's build
#                            stage, where npm ci runs. Nothing of it reaches shoal:latest.
#   shoal/seed-registry:2.8  Debian's docker-registry (distribution 2.8.2) on shoal/debian:bookworm;
#                            its access log can be teed to a file (ACCESS_LOG_FILE) for tests.
#   shoal/test-client:latest skopeo, curl, jq on shoal/debian:bookworm (docker-compose.test.yml).
#   shoal:latest             the Dockerfile at the top of the repository.
#
# Usage: deploy/build-images.sh [base|shoal|test|all]...   (default: all)
#   base   shoal/node:22, shoal/debian:bookworm, shoal/node:22-build
#   shoal  shoal:latest (needs base)
#   test   shoal/seed-registry:2.8, shoal/test-client:latest (needs base)
# Environment:
#   SHOAL_IMAGE_WORKDIR  scratch and cache folder (default /var/tmp/shoal-images); the debootstrap
#                        tarball is kept there and reused until SHOAL_REBUILD_DEBIAN=1
#   SHOAL_NODE_BIN       Node 22 binary for the images (default node_modules/node/bin/node)
#   DEBIAN_MIRROR        debootstrap mirror (default: the first .../debian URI in this host's apt
#                        sources; none there and none given is an error)
#   DEBIAN_SECURITY_MIRROR  security archive for the images' apt (default: the first
#                        .../debian-security URI in this host's apt sources; none: left out, with a warning)
#   NPM_VERSION          npm for the build stage (default 10.9.9)
#   SHOAL_BUILD_CA_BUNDLE  CA bundle for the build stage (default $SSL_CERT_FILE, else
#                        /etc/ssl/certs/ca-certificates.crt; an empty file when neither exists)
#   SHOAL_IMAGE_TAG      tag of the shoal image (default latest)
# Needs root (debootstrap), dockerd, network to Debian's archive (debootstrap, apt in the client)
# and to the npm registry (npm pack, npm ci in the build stage, which runs with --network host).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${SHOAL_IMAGE_WORKDIR:-/var/tmp/shoal-images}
node_bin=${SHOAL_NODE_BIN:-$repo/node_modules/node/bin/node}
npm_version=${NPM_VERSION:-10.9.9}
shoal_tag=${SHOAL_IMAGE_TAG:-latest}
suite=bookworm
# The legacy builder talks to any dockerd (this one is 20.10) and needs no buildx plugin.
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}

IMG_RUNTIME=shoal/node:22
IMG_DEBIAN=shoal/debian:$suite
IMG_BUILD=shoal/node:22-build
IMG_SEED=shoal/seed-registry:2.8
IMG_CLIENT=shoal/test-client:latest
IMG_SHOAL=shoal:$shoal_tag
SHOAL_UID=10001

log() { printf 'build-images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Deterministic tarball of a folder: sorted names, fixed times, owners as on disk; GNU format, so
# no pax headers with access and change times.
pack_rootfs() { # dir out.tar
  tar --sort=name --mtime=@0 --numeric-owner --format=gnu -C "$1" -cf "$2" .
}

# The first URI of this host's apt sources (one-line or deb822) whose path ends in /$1: the images
# come from the archive this machine already uses, whatever and wherever that is.
apt_uri() { # debian | debian-security
  grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
    grep -oE "https?://[^ ]*/$1/?( |\$)" | head -1 | tr -d ' '
}

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(apt_uri debian)
  [ -n "$uri" ] || die "no Debian archive in this host's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/): set DEBIAN_MIRROR to the URL of the Debian mirror to debootstrap from"
  echo "$uri"
}

need_cmd() { command -v "$1" >/dev/null 2>&1; }

apt_install() { # installs Debian packages on this host when their command is missing
  log "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

check_node() {
  [ -x "$node_bin" ] || die "no Node binary at $node_bin: run npm ci first (it installs the pinned Node 22), or set SHOAL_NODE_BIN"
  local v
  v=$("$node_bin" --version)
  case "$v" in v22.*) ;; *) die "$node_bin is Node $v; the images need Node 22" ;; esac
  echo "$v"
}

# --- shoal/node:22: Node and its shared libraries, nothing else --------------------------------
build_runtime() {
  local version root lib dest
  version=$(check_node)
  root=$work/runtime-rootfs
  rm -rf "$root" && mkdir -p "$root"/{etc,tmp,usr/local/bin,usr/lib/x86_64-linux-gnu,usr/lib64,usr/bin,usr/sbin,var/lib,root}
  chmod 1777 "$root/tmp"
  chmod 0700 "$root/root"
  # Merged /usr as in Debian 12, so the paths ldd prints (/lib/..., /lib64/...) resolve.
  ln -s usr/lib "$root/lib"; ln -s usr/lib64 "$root/lib64"; ln -s usr/bin "$root/bin"; ln -s usr/sbin "$root/sbin"
  cp "$node_bin" "$root/usr/local/bin/node"
  if need_cmd strip; then strip --strip-all "$root/usr/local/bin/node"; fi  # 125 MB -> 107 MB; .dynsym stays, which native addons link against
  # Every library the binary loads, and the loader itself, copied from this host (Debian 12 glibc).
  while read -r lib; do
    [ -n "$lib" ] || continue
    dest=$root$lib
    mkdir -p "$(dirname "$dest")"
    cp -L "$lib" "$dest"
  done < <(ldd "$node_bin" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }')
  # glibc >= 2.34 has the files and dns NSS modules built in; the others are not shipped.
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n' >"$root/etc/nsswitch.conf"
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nshoal:x:%s:%s:shoal registry mirror:/var/lib/shoal:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' \
    "$SHOAL_UID" "$SHOAL_UID" >"$root/etc/passwd"
  printf 'root:x:0:\nshoal:x:%s:\nnogroup:x:65534:\n' "$SHOAL_UID" >"$root/etc/group"
  printf '/usr/lib/x86_64-linux-gnu\n' >"$root/etc/ld.so.conf"
  ldconfig -r "$root" 2>/dev/null || true
  rm -f "$root/var/cache/ldconfig/aux-cache"
  pack_rootfs "$root" "$work/runtime-rootfs.tar"
  log "importing $IMG_RUNTIME (Node $version, rootfs $(du -sh "$root" | cut -f1))"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=${version#v}" \
    --change 'CMD ["node"]' \
    --message "shoal runtime base: Node $version from node_modules/node + glibc from the build host" \
    "$work/runtime-rootfs.tar" "$IMG_RUNTIME" >/dev/null
  docker tag "$IMG_RUNTIME" "shoal/node:${version#v}"
  docker run --rm --network none "$IMG_RUNTIME" node -e 'if (!process.versions.node.startsWith("22.")) process.exit(1)' ||
    die "$IMG_RUNTIME cannot run node"
}

# --- shoal/debian:bookworm: debootstrap minbase ---------------------------------------------------
build_debian() {
  local root=$work/debian-rootfs tarball=$work/debian-$suite-minbase.tar mirror security
  if [ ! -s "$tarball" ] || [ "${SHOAL_REBUILD_DEBIAN:-0}" = 1 ]; then
    need_cmd debootstrap || apt_install debootstrap
    mirror=$(debian_mirror)
    log "debootstrap --variant=minbase $suite from $mirror"
    rm -rf "$root"
    debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
      { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log: $work/debootstrap.log)"; }
    # Security updates too (from the security archive this host uses), and keep later apt-get installs small.
    printf 'deb %s %s main\ndeb %s %s-updates main\n' "$mirror" "$suite" "$mirror" "$suite" >"$root/etc/apt/sources.list"
    security=${DEBIAN_SECURITY_MIRROR:-$(apt_uri debian-security)}
    if [ -n "$security" ]; then
      printf 'deb %s %s-security main\n' "$security" "$suite" >>"$root/etc/apt/sources.list"
    else
      log "warning: no security archive in this host's apt sources and no DEBIAN_SECURITY_MIRROR: $IMG_DEBIAN gets no $suite-security updates"
    fi
    cat >"$root/etc/dpkg/dpkg.cfg.d/01-shoal-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/01-shoal-slim"
    find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
    rm -rf "$root"/usr/share/{man,info}/* "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
      "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/* "$root"/var/cache/ldconfig/aux-cache
    : >"$root/etc/machine-id"
    pack_rootfs "$root" "$tarball.tmp" && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  else
    log "reusing $tarball (SHOAL_REBUILD_DEBIAN=1 makes it anew)"
  fi
  log "importing $IMG_DEBIAN"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --message "Debian $suite minbase (debootstrap)" "$tarball" "$IMG_DEBIAN" >/dev/null
}

# --- shoal/node:22-build: Debian + Node + npm -----------------------------------------------------
build_node_build() {
  local ctx=$work/node-build-ctx version
  version=$(check_node)
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$node_bin" "$ctx/node"
  if need_cmd strip; then strip --strip-all "$ctx/node"; fi
  if [ ! -s "$work/npm-$npm_version.tgz" ]; then
    log "npm pack npm@$npm_version"
    (cd "$work" && npm pack --silent "npm@$npm_version" >/dev/null)
  fi
  cp "$work/npm-$npm_version.tgz" "$ctx/npm.tgz"
  local ca=${SHOAL_BUILD_CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
  if [ -s "$ca" ]; then cp -L "$ca" "$ctx/ca-certificates.crt"; else : >"$ctx/ca-certificates.crt"; fi
  log "building $IMG_BUILD"
  docker build -q -t "$IMG_BUILD" --build-arg "BASE_IMAGE=$IMG_DEBIAN" \
    -f "$repo/deploy/images/node-build/Dockerfile" "$ctx" >/dev/null
}

build_base() { build_runtime; build_debian; build_node_build; }

build_shoal() {
  log "building $IMG_SHOAL from $repo/Dockerfile (npm ci in the build stage: --network host)"
  docker build -t "$IMG_SHOAL" --network host \
    --build-arg "BUILD_IMAGE=$IMG_BUILD" --build-arg "RUNTIME_IMAGE=$IMG_RUNTIME" \
    -f "$repo/Dockerfile" "$repo" >"$work/shoal-build.log" 2>&1 ||
    { tail -30 "$work/shoal-build.log" >&2; die "docker build of $IMG_SHOAL failed (log: $work/shoal-build.log)"; }
  docker run --rm --network none "$IMG_SHOAL" --version >/dev/null || die "$IMG_SHOAL does not start"
}

build_test() {
  local ctx=$work/seed-ctx registry_bin=/usr/bin/docker-registry
  rm -rf "$ctx" && mkdir -p "$ctx"
  if [ ! -x "$registry_bin" ]; then
    # Not installed here: take the binary out of Debian's package without installing it.
    log "fetching Debian's docker-registry package"
    (cd "$ctx" && apt-get download docker-registry >/dev/null && dpkg-deb -x docker-registry_*.deb pkg)
    registry_bin=$ctx/pkg/usr/bin/docker-registry
  fi
  cp "$registry_bin" "$ctx/docker-registry"
  cp "$repo/deploy/images/seed-registry/config.yml" "$repo/deploy/images/seed-registry/entrypoint.sh" "$ctx/"
  log "building $IMG_SEED"
  docker build -q -t "$IMG_SEED" --build-arg "BASE_IMAGE=$IMG_DEBIAN" \
    -f "$repo/deploy/images/seed-registry/Dockerfile" "$ctx" >/dev/null
  log "building $IMG_CLIENT (apt-get install skopeo curl jq: --network host)"
  docker build -q -t "$IMG_CLIENT" --network host --build-arg "BASE_IMAGE=$IMG_DEBIAN" \
    -f "$repo/test/compose/client/Dockerfile" "$repo/test/compose/client" >/dev/null
}

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

main() {
  local targets=() t
  for t in "$@"; do
    case "$t" in
      base|shoal|test) targets+=("$t") ;;
      all) targets+=(base shoal test) ;;
      -h|--help) usage; return 0 ;;
      *) usage >&2; die "unknown target $t (base, shoal, test or all)" ;;
    esac
  done
  [ ${#targets[@]} -gt 0 ] || targets=(base shoal test)
  [ "$(id -u)" = 0 ] || die "run as root (debootstrap, docker)"
  docker info >/dev/null 2>&1 || die "dockerd is not running (start it with: dockerd --storage-driver=vfs &)"
  mkdir -p "$work"
  for t in "${targets[@]}"; do "build_$t"; done
  docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep -E '^shoal[:/]' | sort >&2
}

main "$@"
