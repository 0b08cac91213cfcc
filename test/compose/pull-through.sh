#!/bin/bash
# The client of docker-compose.test.yml (runs in shoal/test-client: skopeo, curl, jq).
#  1. waits until every node sees all the others (mDNS on the compose network);
#  2. makes a test image (random layers, so every run is new to the seed) and pushes it to the seed;
#  3. pulls it through every node at once with skopeo, which checks every digest;
#  4. asserts that the seed served each blob once: the bytes of its access log's blob GETs, per
#     digest and less the 1-byte Range probes (at most one per node), equal the blob's size; and
#     the nodes' shoal_seed_bytes_total add up to the image.
# Prints a table of bytes per blob and "compose-test: PASS", or "FAIL: why" and exits 1.
#
# Environment: SEED (host:port), NODES (host names; registry on :5000, metrics on :5002),
# SEED_ACCESS_LOG (the seed's access log file; without it only the metrics are checked),
# LAYER_SIZES (bytes of each random layer), MAX_SEED_RATIO (seed bytes / blob size allowed, 1.0),
# MESH_TIMEOUT (seconds to wait for the peers to meet, 90).
set -euo pipefail

seed=${SEED:-seed:5000}
read -r -a nodes <<<"${NODES:-node1 node2 node3}"
access_log=${SEED_ACCESS_LOG:-}
read -r -a layer_sizes <<<"${LAYER_SIZES:-524288 5242880 25165824}"
max_ratio=${MAX_SEED_RATIO:-1.0}
mesh_timeout=${MESH_TIMEOUT:-90}
repo=shoal-test/app
tag=1
work=$(mktemp -d)
skopeo=(skopeo --insecure-policy)

say() { printf 'client: %s\n' "$*"; }
fail() { printf 'client: FAIL: %s\n' "$*" >&2; exit 1; }

# metric HOST NAME: the value of an unlabelled sample on HOST's peer port, 0 when absent.
metric() {
  curl -fsS --max-time 5 "http://$1:5002/metrics" | awk -v m="$2" '$1 == m { v = $2 } END { print v + 0 }'
}

# --- 1. the swarm ---------------------------------------------------------------------------------
want=$(( ${#nodes[@]} - 1 ))
deadline=$(( SECONDS + mesh_timeout ))
while :; do
  counts=()
  meshed=1
  for n in "${nodes[@]}"; do
    c=$(metric "$n" shoal_peers 2>/dev/null || echo 0)
    counts+=("$n=$c")
    [ "$c" -ge "$want" ] || meshed=0
  done
  [ "$meshed" = 1 ] && break
  [ $SECONDS -lt $deadline ] || fail "the nodes did not all meet within ${mesh_timeout}s (peers: ${counts[*]})"
  sleep 1
done
say "swarm formed after ${SECONDS}s, peers: ${counts[*]}"

# --- 2. a test image, pushed to the seed ----------------------------------------------------------
img=$work/image
mkdir -p "$img/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' >"$img/oci-layout"
put_blob() { # FILE: moves it into the layout, prints its sha256 hex
  local hex
  hex=$(sha256sum "$1" | cut -d' ' -f1)
  mv "$1" "$img/blobs/sha256/$hex"
  echo "$hex"
}
layers='[]'
diff_ids='[]'
for size in "${layer_sizes[@]}"; do
  dir=$work/layer-$size
  mkdir -p "$dir"
  head -c "$size" /dev/urandom >"$dir/random-$size.bin"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir" -cf "$work/layer.tar" .
  diff_ids=$(jq -c --arg d "sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)" '. + [$d]' <<<"$diff_ids")
  gzip -n -1 -c "$work/layer.tar" >"$work/layer.tar.gz"
  bytes=$(stat -c %s "$work/layer.tar.gz")
  hex=$(put_blob "$work/layer.tar.gz")
  layers=$(jq -c --arg d "sha256:$hex" --argjson s "$bytes" \
    '. + [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $d, size: $s}]' <<<"$layers")
  rm -rf "$dir" "$work/layer.tar"
done
jq -cj --argjson ids "$diff_ids" '{architecture: "amd64", os: "linux", config: {}, rootfs: {type: "layers", diff_ids: $ids}}' \
  <<<'{}' >"$work/config.json"
config_bytes=$(stat -c %s "$work/config.json")
config_hex=$(put_blob "$work/config.json")
jq -cj --arg c "sha256:$config_hex" --argjson cs "$config_bytes" --argjson layers "$layers" \
  '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs}, layers: $layers}' \
  <<<'{}' >"$work/manifest.json"
manifest_bytes=$(stat -c %s "$work/manifest.json")
manifest_hex=$(put_blob "$work/manifest.json")
jq -cj --arg m "sha256:$manifest_hex" --argjson ms "$manifest_bytes" --arg tag "$tag" \
  '{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $ms,
    annotations: {"org.opencontainers.image.ref.name": $tag}}]}' <<<'{}' >"$img/index.json"

"${skopeo[@]}" copy --quiet --dest-tls-verify=false "oci:$img:$tag" "docker://$seed/$repo:$tag" >/dev/null ||
  fail "push to the seed failed"
seed_manifest=$("${skopeo[@]}" inspect --raw --tls-verify=false "docker://$seed/$repo:$tag")
seed_digest=sha256:$(printf '%s' "$seed_manifest" | sha256sum | cut -d' ' -f1)
[ "$seed_digest" = "sha256:$manifest_hex" ] || fail "the seed holds manifest $seed_digest, pushed sha256:$manifest_hex"
# digest size, one line per blob: the config, then the layers
blobs=$(jq -r '.config, .layers[] | "\(.digest) \(.size)"' <<<"$seed_manifest")
total=$(awk '{ t += $2 } END { print t }' <<<"$blobs")
say "pushed $seed/$repo:$tag ($seed_digest): $(wc -l <<<"$blobs") blobs, $total bytes"
log_start=0
if [ -n "$access_log" ]; then
  [ -r "$access_log" ] || fail "cannot read the seed's access log $access_log"
  log_start=$(wc -l <"$access_log")
fi

# --- 3. pull through every node at once -----------------------------------------------------------
declare -A pid
started=$SECONDS
for n in "${nodes[@]}"; do
  "${skopeo[@]}" copy --quiet --src-tls-verify=false "docker://$n:5000/$repo:$tag" "dir:$work/pulled-$n" \
    >"$work/pull-$n.log" 2>&1 &
  pid[$n]=$!
done
for n in "${nodes[@]}"; do
  wait "${pid[$n]}" || { cat "$work/pull-$n.log" >&2; fail "pull through $n failed"; }
done
say "pulled through ${nodes[*]} at once in $(( SECONDS - started ))s"
for n in "${nodes[@]}"; do
  got=sha256:$(sha256sum "$work/pulled-$n/manifest.json" | cut -d' ' -f1)
  [ "$got" = "$seed_digest" ] || fail "$n served manifest $got, the seed has $seed_digest"
  while read -r digest size; do
    f=$work/pulled-$n/${digest#sha256:}
    [ -f "$f" ] || fail "$n: blob $digest missing from the pull"
    [ "$(sha256sum "$f" | cut -d' ' -f1)" = "${digest#sha256:}" ] || fail "$n: blob $digest has other bytes"
  done <<<"$blobs"
done
say "every node served the seed's manifest and blobs, digests verified"

# --- 4. what the seed sent ------------------------------------------------------------------------
seed_sum=0
printf '%-8s %16s %16s %16s %16s\n' node seed_bytes peer_received peer_served blobs_fetched
for n in "${nodes[@]}"; do
  s=$(metric "$n" shoal_seed_bytes_total)
  printf '%-8s %16s %16s %16s %16s\n' "$n" "$s" "$(metric "$n" shoal_peer_received_bytes_total)" \
    "$(metric "$n" shoal_peer_served_bytes_total)" "$(metric "$n" shoal_blobs_fetched_total)"
  seed_sum=$(( seed_sum + s ))
done
say "shoal_seed_bytes_total summed over the nodes: $seed_sum for an image of $total bytes ($(awk -v a="$seed_sum" -v b="$total" 'BEGIN { printf "%.3f", a / b }')x)"

failures=()
awk -v a="$seed_sum" -v b="$total" -v r="$max_ratio" 'BEGIN { exit !(a >= b && a <= b * r) }' ||
  failures+=("the nodes fetched $seed_sum bytes from the seed for $total bytes of blobs")

if [ -n "$access_log" ]; then
  sleep 1 # tee's last lines
  # Combined log format: host - - [date zone] "GET /v2/.../blobs/sha256:... HTTP/1.1" status bytes ...
  # Per digest: all bytes, requests, and the 1-byte Range probes each node sends before a fetch.
  served=$(tail -n +"$((log_start + 1))" "$access_log" | awk '
    $6 == "\"GET" && $7 ~ /\/blobs\/sha256:/ && ($9 == 200 || $9 == 206) {
      d = $7; sub(/^.*\/blobs\//, "", d); sub(/\?.*$/, "", d)
      bytes[d] += $10; reqs[d]++
      if ($9 == 206 && $10 == 1) probes[d]++
    }
    END { for (d in bytes) print d, bytes[d], reqs[d], probes[d] + 0 }')
  printf '%-20s %10s %12s %9s %7s %14s %7s\n' blob size seed_bytes requests probes payload_bytes ratio
  while read -r digest size; do
    read -r _ sent reqs probes <<<"$(awk -v d="$digest" '$1 == d' <<<"$served")" || true
    sent=${sent:-0}; reqs=${reqs:-0}; probes=${probes:-0}
    payload=$(( sent - probes ))
    [ "$size" -gt 1 ] || payload=$sent
    ratio=$(awk -v a="$payload" -v b="$size" 'BEGIN { printf "%.3f", a / b }')
    printf '%-20s %10s %12s %9s %7s %14s %7s\n' "${digest:0:19}" "$size" "$sent" "$reqs" "$probes" "$payload" "${ratio}x"
    awk -v a="$payload" -v b="$size" -v r="$max_ratio" 'BEGIN { exit !(a >= b && a <= b * r) }' ||
      failures+=("the seed sent $payload bytes of $digest ($size bytes) besides $probes 1-byte probes")
    [ "$probes" -le "${#nodes[@]}" ] || failures+=("$probes 1-byte probes of $digest for ${#nodes[@]} nodes")
  done <<<"$blobs"
  other=$(awk -v list="$blobs" 'BEGIN { n = split(list, l, "\n"); for (i = 1; i <= n; i++) { split(l[i], f, " "); known[f[1]] = 1 } }
    !($1 in known) { print }' <<<"$served")
  [ -z "$other" ] || failures+=("the seed served blobs that are not in the image: $other")
  seed_log_sum=$(awk '{ t += $2 } END { print t + 0 }' <<<"$served")
  say "the seed's access log: $seed_log_sum blob bytes sent for $total bytes of blobs"
fi

if [ ${#failures[@]} -gt 0 ]; then
  for f in "${failures[@]}"; do printf 'client: FAIL: %s\n' "$f" >&2; done
  exit 1
fi
say "compose-test: PASS (seed sent each blob once, ${#nodes[@]} nodes)"
