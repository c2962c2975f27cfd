#!/usr/bin/env bash
# Builds the edge modules: the tokenkeep-wasm crate for wasm32 (profile $1,
# default release) with the standard library rebuilt for size on the pinned
# nightly of scripts/edge-toolchain.sh (a panic still traps, as it did with
# panic=abort; the host turns the trap into `internal_error`), its JS bindings
# (wasm-bindgen, web target), shrunk by npm's binaryen wasm-opt (Debian's
# breaks the module in workerd). Two builds of the one crate:
#   bindings-node/edge/wasm       every public-key signature checked by
#                                 WebCrypto (`tokenkeep` on workerd, edge-light)
#   bindings-node/edge/wasm-full  also checks them inside the module
#                                 (feature module-signatures: verifySync,
#                                 `signatures: "wasm"`, browsers, `tokenkeep/full`)
# Prints each .wasm's size raw and gzipped.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-release}
# shellcheck source=scripts/edge-toolchain.sh
. scripts/edge-toolchain.sh
dir=$profile; [ "$profile" = dev ] && dir=debug
for variant in wasm wasm-full; do
  features=(--no-default-features)
  [ "$variant" = wasm-full ] && features=()
  out=bindings-node/edge/$variant
  # RUSTFLAGS reach only the wasm32 artifacts (build scripts and proc macros
  # are host artifacts when --target is given).
  # Warnings are errors here too: clippy sees only the build with every feature.
  # (Not cargo's own note that make's jobserver is not reachable under make -j.)
  log=$(mktemp)
  RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort" \
    cargo "+$EDGE_TOOLCHAIN" build -q -p tokenkeep-wasm "${features[@]}" --target wasm32-unknown-unknown \
    --profile "$profile" -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size 2>"$log" \
    || { cat "$log"; exit 1; }
  if grep '^warning' "$log" | grep -qv 'jobserver'; then cat "$log"; echo "edge: $variant built with warnings" >&2; exit 1; fi
  rm -f "$log"
  # cargo links the artifact it already had when nothing changed (its old
  # mtime): then this variant's module, made after it and after this script,
  # is current (make test builds it in build-all and again from test-edge).
  built="target/wasm32-unknown-unknown/$dir/tokenkeep_wasm.wasm"
  module="$out/tokenkeep_wasm_bg.wasm"
  if ! [ "$module" -nt "$built" ] || ! [ "$module" -nt "$0" ]; then
    wasm-bindgen --target web --out-dir "$out" --out-name tokenkeep_wasm "$built"
    tests/edge/node_modules/.bin/wasm-opt -Oz --strip-debug --strip-producers "$module" -o "$module"
  fi
  raw=$(stat -c %s "$out/tokenkeep_wasm_bg.wasm")
  gz=$(gzip -9 -c "$out/tokenkeep_wasm_bg.wasm" | wc -c)
  echo "edge: $out/tokenkeep_wasm_bg.wasm $raw bytes raw, $gz bytes gzip -9 (profile $profile)"
done
