"""Arbitrary strings and bytes as tokens, arbitrary JSON as JWKS and options:
never a crash, always a TokenkeepError (or, for options that happen to be
valid, a verifier)."""

from __future__ import annotations

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
