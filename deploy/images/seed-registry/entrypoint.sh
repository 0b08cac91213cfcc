#!/bin/bash
# Runs the registry in place of this shell. With ACCESS_LOG_FILE set (not REGISTRY_*: the registry
# warns about every REGISTRY_ variable it does not know), its access log (the
# registry writes it to stdout, one combined-format line per request) is also appended to that
# file, so a test can count the bytes the seed served per blob.
set -euo pipefail
config=${1:-/etc/docker/registry/config.yml}
if [ -n "${ACCESS_LOG_FILE:-}" ]; then
  mkdir -p "$(dirname "$ACCESS_LOG_FILE")"
  exec docker-registry serve "$config" > >(tee -a "$ACCESS_LOG_FILE")
fi
exec docker-registry serve "$config"
