#!/usr/bin/env bash
# make bench-node: builds the addon (release), packs the package, installs the
# tarball next to the peer libraries in benches/node and runs the benchmark.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pkg="$root/bindings-node"
out="$root/target/node-bench"
cd "$pkg"
[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error
node scripts/build-native.mjs --profile "${NODE_PROFILE:-release}"
mkdir -p "$out"
rm -f "$out"/tokenkeep-*.tgz
tarball="$out/$(npm pack --silent --pack-destination "$out")"
cd "$root/benches/node"
npm install --no-audit --no-fund --loglevel=error
npm install --no-save --no-audit --no-fund --loglevel=error "$tarball"
echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
node bench.mjs "$@"
