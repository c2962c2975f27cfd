#!/usr/bin/env bash
# make test-node: builds the addon once (cargo, profile $NODE_PROFILE, in the
# workspace's target/), checks the committed generated files, packs the npm
# package, installs the tarball into a scratch project (target/node-scratch)
# with the suite, the examples and their dependencies, type-checks them
# (tsc --strict), runs the suite (node:test) and searches all its output for
# every secret it issued.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
profile="${NODE_PROFILE:-release}"
pkg="$root/bindings-node"
scratch="$root/target/node-scratch"
npm_quiet=(--no-audit --no-fund --loglevel=error)
# The suite reads tests/vectors from here (target/ may be a symlink elsewhere).
export TOKENKEEP_REPO_ROOT="$root"

cd "$pkg"
[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci "${npm_quiet[@]}"
node scripts/gen-codes.mjs --check
# make test builds the addon beforehand (NODE_PREBUILT=1) with the other artifacts.
[ "${NODE_PREBUILT:-}" = 1 ] || node scripts/build-native.mjs --profile "$profile" --check
# The dev issuer the suite starts (tests find it at $TOKENKEEP_BIN).
if [ -z "${TOKENKEEP_BIN:-}" ]; then
  (cd "$root" && cargo build -q -p tokenkeep-cli)
  export TOKENKEEP_BIN="$root/target/debug/tokenkeep"
fi

mkdir -p "$scratch"
rm -f "$scratch"/tokenkeep-*.tgz
tarball="$scratch/$(npm pack --silent --pack-destination "$scratch")"

rm -rf "$scratch/suite" "$scratch/examples" "$scratch/types"
cp -r "$pkg/test/suite" "$pkg/test/types" "$pkg/examples" "$scratch/"
cp "$pkg/test/package.json" "$pkg/test/package-lock.json" "$pkg/test/tsconfig.json" "$scratch/"
cd "$scratch"
npm install "${npm_quiet[@]}"
npm install --no-save "${npm_quiet[@]}" "$tarball"

npx tsc -p tsconfig.json

log="$scratch/suite-output.log"
secrets="$scratch/issued-secrets.txt"
: >"$secrets"
status=0
TOKENKEEP_SECRETS_FILE="$secrets" node --test --test-concurrency=2 --test-reporter=spec suite/ 2>&1 | tee "$log" || status=$?
node "$pkg/scripts/check-secrets.mjs" "$secrets" "$log"
exit "$status"
