#!/usr/bin/env bash
# make bench-python: builds the wheel (maturin, cargo profile $PY_PROFILE,
# default release, as make test-python), installs it with the pinned peers
# (benches/python/requirements.txt) into target/python-bench-venv on CPython
# 3.12 (ryjwt needs >= 3.12; the abi3 wheel loads there too) and runs
# benches/python/bench.py with the arguments given.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
profile="${PY_PROFILE:-release}"
wheels="target/wheels/bench-$profile"
venv="target/python-bench-venv"
requirements="benches/python/requirements.txt"

python="${PYTHON312:-}"
if [ -z "$python" ]; then
  python="$(ls -d "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.12.*/bin/python3.12 2>/dev/null | tail -1 || true)"
fi
[ -n "$python" ] || python="$(command -v python3.12 || true)"
if [ -z "$python" ]; then
  echo "bench-python: needs CPython 3.12 (pyenv's, python3.12 on PATH, or PYTHON312=...)" >&2
  exit 1
fi

scripts/python-deps.sh
rm -rf "$wheels"
target/python-tools/bin/maturin build --quiet --profile "$profile" -m bindings-python/Cargo.toml --out "$wheels"
wheel="$(ls "$wheels"/tokenkeep-*.whl)"

stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)-$("$python" -c 'import sys; print(sys.version)' | head -1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --force-reinstall "$wheel"

echo "bench-python: $(basename "$wheel") (profile $profile); load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
"$venv/bin/python" benches/python/bench.py "$@"
