#!/usr/bin/env bash
# Installs PostgreSQL from Debian (`apt-get install postgresql`) when no
# server binaries are present; prints the bin directory holding initdb and
# pg_ctl. Idempotent: does nothing but print the path when already installed.
# The lease tests (runtime/tests/openbao_leases.rs) find the binaries through
# $TOKENKEEP_PG_BIN or /usr/lib/postgresql/*/bin.
set -euo pipefail

find_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

if ! bin="$(find_bin)"; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  echo "postgres: apt-get install -y postgresql" >&2
  "${sudo[@]}" apt-get update >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y postgresql >&2
  bin="$(find_bin)" || { echo "postgres: initdb missing after installing postgresql" >&2; exit 1; }
fi
"$bin/initdb" --version >&2
echo "$bin"
