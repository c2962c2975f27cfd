"""Run by scripts/test-python.sh on the oldest supported CPython: the abi3
wheel imports and verifies one shared vector (valid and rejected)."""

import json
import pathlib
import sys

import tokenkeep

vectors = json.loads((pathlib.Path(__file__).resolve().parents[2] / "tests/vectors/valid.json").read_text())["vectors"]
v = vectors[0]
with tokenkeep.Verifier(jwks=v["jwks"], policy=v["policy"]) as verifier:
    assert verifier.verify(v["token"], now=v["now"]) == v["expect"]["claims"]
    try:
        verifier.verify(v["token"], now=v["now"] + 10**6)
    except tokenkeep.Expired as e:
        assert e.code == "expired"
    else:
        raise AssertionError("expired token accepted")
    # verify(token) alone takes the fast entry (METH_FASTCALL, the str's own
    # UTF-8): on the oldest CPython too. The vector's token is long expired.
    for method in (verifier.verify, verifier.verify_cached):
        try:
            method(v["token"])
        except tokenkeep.Expired as e:
            assert e.code == "expired"
        else:
            raise AssertionError("expired token accepted")
        try:
            method()
        except TypeError:
            pass
        else:
            raise AssertionError("a call without a token accepted")
print(f"abi3 smoke test: tokenkeep {tokenkeep.__version__} on CPython {sys.version.split()[0]}: ok")
