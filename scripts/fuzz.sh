#!/usr/bin/env bash
# Runs every fuzz target for $1 seconds (default 300) on nightly with cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
for target in verify_token parse_jwks jwks_cache; do
  echo "fuzz: $target for ${seconds}s"
  cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=20000 2>&1 | tail -n 4
done
