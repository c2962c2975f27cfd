#!/usr/bin/env bash
# Installs what the edge build and its tests need, once: the pinned nightly
# toolchain with the standard library's source (scripts/build-edge.sh rebuilds
# std for size with it), wasm-bindgen-cli at
# the wasm-bindgen crate's exact version (cargo, into ~/.cargo/bin), and the
# npm packages of tests/edge (binaryen's wasm-opt, miniflare, wrangler,
# edge-runtime, esbuild, the peers of the benchmark) from its lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/edge-toolchain.sh
. scripts/edge-toolchain.sh
if [ ! -d "$(rustup run "$EDGE_TOOLCHAIN" rustc --print sysroot 2>/dev/null)/lib/rustlib/src/rust/library" ]; then
  echo "edge-tools: installing rust $EDGE_TOOLCHAIN with rust-src (about 15 s)"
  rustup toolchain install "$EDGE_TOOLCHAIN" --profile minimal --component rust-src --no-self-update
fi

want=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' bindings-wasm/Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "edge-tools: installing wasm-bindgen-cli $want (about 2.5 min)"
  # --locked fails: the registry lacks one locked dependency version.
  cargo install -q wasm-bindgen-cli --version "$want"
fi

if [ ! -x tests/edge/node_modules/.bin/wasm-opt ] || [ tests/edge/package-lock.json -nt tests/edge/node_modules/.package-lock.json ]; then
  echo "edge-tools: npm ci in tests/edge"
  (cd tests/edge && WRANGLER_SEND_METRICS=false npm ci --no-audit --no-fund --loglevel=error)
fi
# The benchmarks share the test project's packages.
ln -sfn ../../tests/edge/node_modules benches/edge/node_modules
