#!/usr/bin/env bash
# Installs what the Python binding's build and tests need, once: maturin in
# target/python-tools, and the test requirements (bindings-python/tests/
# requirements.txt) as wheels in target/python-wheelhouse, refreshed when the
# requirements change. Idempotent and quick when all is there; prints nothing
# then. Called by scripts/setup.sh and scripts/test-python.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
tools="$root/target/python-tools"
wheelhouse="$root/target/python-wheelhouse"
requirements="$root/bindings-python/tests/requirements.txt"
maturin_version="1.16.0"

if [ ! -x "$tools/bin/maturin" ] || ! "$tools/bin/maturin" --version | grep -q " $maturin_version\$"; then
  echo "python-deps: maturin $maturin_version into $tools" >&2
  "$python" -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "maturin==$maturin_version" >&2
fi

stamp="$wheelhouse/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)-$("$python" -c 'import sys; print(sys.implementation.cache_tag)')"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "python-deps: test requirements into $wheelhouse" >&2
  mkdir -p "$wheelhouse"
  "$tools/bin/pip" download --quiet --disable-pip-version-check -r "$requirements" -d "$wheelhouse" >&2
  echo "$want" > "$stamp"
fi
