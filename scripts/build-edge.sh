#!/usr/bin/env bash
# Builds the edge module: the tokenkeep-wasm crate for wasm32 (profile $1,
# default release) with the standard library rebuilt for size on the pinned
# nightly of scripts/edge-toolchain.sh (a panic still traps, as it did with
# panic=abort; the host turns the trap into `internal_error`), its JS bindings (wasm-bindgen, web target) into
# bindings-node/edge/wasm/, shrunk by npm's binaryen wasm-opt (Debian's
# breaks the module in workerd). Prints the .wasm size raw and gzipped.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-release}
out=bindings-node/edge/wasm
# shellcheck source=scripts/edge-toolchain.sh
. scripts/edge-toolchain.sh
# RUSTFLAGS reach only the wasm32 artifacts (build scripts and proc macros are
# host artifacts when --target is given).
RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort" \
  cargo "+$EDGE_TOOLCHAIN" build -q -p tokenkeep-wasm --target wasm32-unknown-unknown --profile "$profile" \
  -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size
dir=$profile; [ "$profile" = dev ] && dir=debug
wasm-bindgen --target web --out-dir "$out" --out-name tokenkeep_wasm \
  "target/wasm32-unknown-unknown/$dir/tokenkeep_wasm.wasm"
tests/edge/node_modules/.bin/wasm-opt -Oz --strip-debug --strip-producers \
  "$out/tokenkeep_wasm_bg.wasm" -o "$out/tokenkeep_wasm_bg.wasm"
raw=$(stat -c %s "$out/tokenkeep_wasm_bg.wasm")
gz=$(gzip -9 -c "$out/tokenkeep_wasm_bg.wasm" | wc -c)
echo "edge: $out/tokenkeep_wasm_bg.wasm $raw bytes raw, $gz bytes gzip -9 (profile $profile)"
