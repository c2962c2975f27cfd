#!/usr/bin/env bash
# Instructions per verification, tokenkeep `Verifier.verify` (cache off)
# against ryjwt, for HS256, RS256, ES256 and EdDSA (or the algorithms given),
# counted by valgrind's callgrind (reproducible where wall-clock times are
# not: a busy machine changes nothing). Each library runs
# benches/python/callgrind_loop.py twice per algorithm, with 1000 and 3000
# calls on the same token and key (one fixture for the whole run); the
# difference over 2000 is one call. Under valgrind aws-lc takes its generic
# code (no SHA extensions, no ADX), the same for both libraries. Then
# tokenkeep's own functions per HS256 call (inclusive), to see where its
# instructions go.
#
#     make bench-python         (once: builds the wheel into target/python-bench-venv)
#     scripts/python-callgrind.sh [ALG...]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="target/python-bench-venv/bin/python"
[ -x "$python" ] || { echo "python-callgrind: run make bench-python first (target/python-bench-venv)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "python-callgrind: needs valgrind" >&2; exit 1; }
# Hash randomisation moves the counts by a few hundred between runs.
export PYTHONHASHSEED=0
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

algs=("$@")
[ ${#algs[@]} -gt 0 ] || algs=(HS256 RS256 ES256 EdDSA)
"$python" benches/python/callgrind_loop.py --fixture "$out/fixture.json"

count() { # library alg calls
  valgrind --tool=callgrind --callgrind-out-file="$out/$1.$2.$3" "$python" benches/python/callgrind_loop.py \
    "$1" "$2" "$3" "$out/fixture.json" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '%-6s %12s %12s %16s\n' alg tokenkeep ryjwt "tokenkeep/ryjwt"
for alg in "${algs[@]}"; do
  declare -A per=()
  for library in tokenkeep ryjwt; do
    a="$(count "$library" "$alg" 1000)"
    b="$(count "$library" "$alg" 3000)"
    per[$library]=$(( (b - a) / 2000 ))
  done
  printf '%-6s %12d %12d %+15.2f%%\n' "$alg" "${per[tokenkeep]}" "${per[ryjwt]}" \
    "$(echo "(${per[tokenkeep]} - ${per[ryjwt]}) * 100 / ${per[ryjwt]}" | bc -l)"
  unset per
done
[ -f "$out/tokenkeep.HS256.1000" ] || exit 0

echo
echo "tokenkeep, per HS256 call (inclusive):"
for n in 1000 3000; do
  callgrind_annotate --inclusive=yes --threshold=100 "$out/tokenkeep.$n" 2>/dev/null \
    | sed -nE 's/^ *([0-9,]+) \([^)]*\) +([^ ].*)$/\1\t\2/p' | tr -d ',' > "$out/inclusive.$n"
done
"$python" - "$out/inclusive.1000" "$out/inclusive.3000" <<'PY'
import sys

def load(path):
    totals = {}
    for line in open(path):
        n, name = line.rstrip("\n").split("\t", 1)
        name = name.split(" [")[0].split(":", 1)[-1] if name.startswith("???") else name.split(" [")[0]
        totals[name] = totals.get(name, 0) + int(n)
    return totals

a, b = load(sys.argv[1]), load(sys.argv[2])
wanted = ("tokenkeep_python::fast::call", "pyo3::marker::Python::detach", "tokenkeep::verifier::Verifier::step",
          "tokenkeep_core::verify::parse_token", "tokenkeep_core::jose::scan_claims_into",
          "tokenkeep_core::crypto::verify_signature", "tokenkeep_core::verify::check_policy_rules",
          "tokenkeep_python::verifier::outcome")
for name in wanted:
    if name in b:
        print(f"  {(b[name] - a.get(name, 0)) / 2000:8.0f}  {name}")
PY
