"""Arbitrary strings and bytes as tokens, arbitrary JSON as JWKS and options:
never a crash, always a TokenkeepError (or, for options that happen to be
valid, a verifier)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tokenkeep

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "issuer", "audience", "jwks", "hmac_keys", "algorithms", "leeway", "spiffe_trust_domain", "policy",
    "cache", "http", "issuers", "jwks_url", "dangerous_allow_http",
]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VERIFIER = tokenkeep.Verifier.from_jwks({"keys": []}, issuer="https://issuer.example")


@SETTINGS
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_any_token(token: Any) -> None:
    for verify in (VERIFIER.verify, VERIFIER.verify_cached):
        try:
            verify(token)
        except tokenkeep.Rejected as e:
            assert e.code in tokenkeep.REJECTION_CLASSES


@SETTINGS
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", max_size=400))
def test_any_token_shaped_string(token: str) -> None:
    try:
        VERIFIER.verify(token)
    except tokenkeep.Rejected:
        pass


@SETTINGS
@given(JSON | st.dictionaries(st.just("keys"), st.lists(st.dictionaries(st.sampled_from(["kty", "kid", "alg", "use", "n", "e", "x", "y", "crv", "k"]), JSON))))
def test_any_json_as_jwks(jwks: Any) -> None:
    try:
        verifier = tokenkeep.Verifier.from_jwks(jwks, issuer="https://issuer.example")
    except tokenkeep.ConfigError as e:
        assert e.code
    else:
        try:
            verifier.verify("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
        except tokenkeep.Rejected:
            pass
        verifier.close()


@SETTINGS
@given(st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), JSON, max_size=5))
def test_any_json_as_options(options: Any) -> None:
    # No key source that could reach beyond this machine: a verifier that
    # starts fetching is closed at once, and only loopback http is allowed.
    try:
        verifier = tokenkeep.Verifier(**options)
    except tokenkeep.ConfigError as e:
        assert e.code
    except tokenkeep.TokenkeepError:
        raise
    else:
        verifier.close()


HS_ISSUER = "https://issuer.example"
HS_SECRET = b"hypothesis-claims-secret-0123456"
HS_VERIFIER = tokenkeep.Verifier(
    issuer=HS_ISSUER,
    audience="api",
    jwks={"keys": []},
    hmac_keys=[{"kty": "oct", "kid": "h", "alg": "HS256",
                "k": base64.urlsafe_b64encode(HS_SECRET).rstrip(b"=").decode()}],
    algorithms=["HS256"],
    cache={"verified_tokens": 0},
)
# Every JSON value a claim can hold. Integers stay within what both JSON
# readers give as int (serde_json reads past u64 as a float, Python as int).
CLAIM = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=16,
)


def hs256(payload: str) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = b64(b'{"alg":"HS256","kid":"h"}') + "." + b64(payload.encode())
    return signing_input + "." + b64(hmac.new(HS_SECRET, signing_input.encode(), hashlib.sha256).digest())


@SETTINGS
@given(
    st.dictionaries(st.text(max_size=8).map(lambda k: "x-" + k), CLAIM, max_size=6),
    st.fixed_dictionaries({}, optional={"scope": st.text(max_size=12), "azp": st.text(max_size=12),
                                        "client_id": st.text(max_size=12)}),
    st.sampled_from(["api", ["api", "web"], ["web", "api", "api"]]),
    st.booleans(),
    st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")]),
)
def test_claims_come_back_as_json_reads_them(
    extra: Any, shared: Any, aud: Any, ascii_only: bool, separators: Any
) -> None:
    # The claims dict is built by a direct scan for plain JSON (no escapes,
    # integers) and by serde_json otherwise: both must give what json reads.
    claims = {**extra, **shared, "iss": HS_ISSUER, "aud": aud, "exp": 4102444800}
    payload = json.dumps(claims, ensure_ascii=ascii_only, separators=separators)
    token = hs256(payload)
    expected = json.loads(payload)
    assert HS_VERIFIER.verify(token) == expected
    assert HS_VERIFIER.verify_cached(token) == expected


def test_deeply_nested_claims_come_back_whole() -> None:
    nested: Any = "bottom"
    for i in range(40):
        nested = {"level": i, "inner": [nested]}
    payload = json.dumps({"iss": HS_ISSUER, "aud": "api", "exp": 4102444800, "deep": nested})
    try:
        claims = HS_VERIFIER.verify(hs256(payload))
    except tokenkeep.Rejected as e:
        # The core may refuse nesting this deep; then it says so by code.
        assert e.code in tokenkeep.REJECTION_CLASSES
    else:
        assert claims == json.loads(payload)
