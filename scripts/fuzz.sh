#!/usr/bin/env bash
# Runs every fuzz target for $1 seconds (default 300) on nightly with cargo-fuzz.
# Prints libFuzzer's final statistics per target; stops at the first crash.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
for target in verify_token parse_jwks jwks_cache; do
  echo "fuzz: $target for ${seconds}s"
  log="$(mktemp)"
  if ! cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=20000 \
      -print_final_stats=1 >"$log" 2>&1; then
    grep -E 'panicked|SUMMARY|ERROR' -A3 "$log" | head -n 20
    echo "fuzz: $target FAILED (artifacts in fuzz/artifacts/$target)"
    exit 1
  fi
  grep -E '^(Done|stat::(number_of_executed_units|peak_rss_mb|new_units_added))' "$log"
  rm -f "$log"
done
