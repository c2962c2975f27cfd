#!/usr/bin/env bash
# Instructions per verification, counted by callgrind (reproducible where
# wall time is not): the raw aws-lc signature check (direct, and through
# aws-lc-rs), tokenkeep-core
# `verify` on a header-cache hit and on a first sight, and jsonwebtoken 11.
# Usage: scripts/bench-instructions.sh [iterations]   (needs valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
cargo build -q --profile bench -p tokenkeep-benches --example verify_loop
bin=target/release/examples/verify_loop
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() { # alg path -> instructions per call
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" --toggle-collect='verify_loop::run*' \
    "$bin" "$1" "$2" "$n" >/dev/null 2>"$out/log"
  local total
  total=$(grep -E '^==[0-9]+== Collected' "$out/log" | awk '{print $4}')
  echo $((total / n))
}
# Raw: the direct aws-lc call the core makes (tokenkeep-awslc); aws-lc-rs's
# check of the same signature is printed beside it.
printf '%-6s %12s %12s %14s %9s %14s %9s %14s\n' alg "raw aws-lc" "aws-lc-rs" "tokenkeep hit" "above" "first sight" "above" \
  "jsonwebtoken"
for alg in RS256 ES256 EdDSA; do
  raw=$(count "$alg" raw-aws-lc)
  rs=$(count "$alg" raw-aws-lc-rs)
  hit=$(count "$alg" core)
  first=$(count "$alg" core-first)
  jwt=$(count "$alg" jsonwebtoken)
  printf '%-6s %12d %12d %14d %+9d %14d %+9d %14d\n' "$alg" "$raw" "$rs" "$hit" $((hit - raw)) "$first" $((first - raw)) "$jwt"
done
# Instructions are not time: dalek's AVX2 code does more per instruction
# (`make bench` compares the times).
printf 'EdDSA raw ed25519-dalek verify %d, verify_strict %d\n' \
  "$(count EdDSA raw-ed25519-dalek)" "$(count EdDSA raw-ed25519-dalek-strict)"
