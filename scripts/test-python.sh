#!/usr/bin/env bash
# The Python binding's suite, on what a user installs: builds the wheel once
# (maturin, cargo profile $PY_PROFILE, default release), installs it into a
# fresh virtualenv with the pinned test requirements, runs pytest; then loads
# the same abi3 wheel on the oldest supported CPython (3.9) and verifies a
# shared vector there. Exit status: pytest's, except that "no tests ran"
# (pytest's 5) is a failure too.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
profile="${PY_PROFILE:-release}"
python="${PYTHON:-python3}"
venv="target/python-test-venv"
wheels="target/wheels/$profile"

scripts/python-deps.sh

# The dev issuer the tests start (tokenkeep dev-issuer), unless given.
if [ -z "${TOKENKEEP_BIN:-}" ]; then
  cargo build -q -p tokenkeep-cli
fi

rm -rf "$wheels"
target/python-tools/bin/maturin build --quiet --profile "$profile" -m bindings-python/Cargo.toml --out "$wheels"
wheel="$(ls "$wheels"/tokenkeep-*.whl)"
echo "test-python: built $(basename "$wheel")"

rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-index \
  --find-links target/python-wheelhouse -r bindings-python/tests/requirements.txt "$wheel"

output="target/python-test-output"
rm -rf "$output"
mkdir -p "$output"
set +e
(cd bindings-python && TOKENKEEP_PY_OUTPUT="$root/$output" "$root/$venv/bin/python" -m pytest -q -rfE -p no:cacheprovider)
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "test-python: pytest collected no tests" >&2
  exit 1
elif [ "$status" -ne 0 ]; then
  exit "$status"
fi

# The abi3 wheel on the oldest CPython it supports.
py39="$(ls -d "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.9.*/bin/python3.9 2>/dev/null | tail -1 || true)"
if [ -n "$py39" ]; then
  rm -rf target/python-test-venv39
  "$py39" -m venv target/python-test-venv39
  target/python-test-venv39/bin/pip install --quiet --disable-pip-version-check --no-index --no-deps "$wheel"
  target/python-test-venv39/bin/python bindings-python/tests/abi3_smoke.py
else
  echo "test-python: no CPython 3.9 from pyenv here; abi3 floor not exercised" >&2
fi
