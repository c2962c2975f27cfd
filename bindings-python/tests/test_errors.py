"""Errors: options errors name the field path, a panic is a TokenkeepError,
arguments that are not tokens are refused clearly."""

from __future__ import annotations

from typing import Any, Dict

import pytest
from conftest import note

import tokenkeep
from tokenkeep import _native

JWKS: Dict[str, Any] = {"keys": []}


@pytest.mark.parametrize(
    ("options", "code", "message"),
    [
        (
            {"issuers": [{"issuer": "https://a.example"}, {"issuer": "https://b.example", "audience": []}]},
            "empty_value",
            "issuers[1].audience: must not be empty",
        ),
        ({"issuer": "https://a.example", "audeince": "api"}, "unknown_field", "unknown field `audeince`"),
        ({"issuer": "https://a.example", "leeway": "soon"}, "invalid_duration", "leeway: "),
        ({"issuer": "https://a.example", "cache": {"ttl": "1s"}}, "out_of_range", "cache.ttl: must be between"),
        ({"issuer": "http://idp.example"}, "insecure_url", ""),
        ({"issuer": "https://a.example", "algorithms": ["XS256"]}, "unknown_algorithm", "algorithms"),
        ({"issuer": "https://a.example", "http": {"ca_file": "/nonexistent/ca.pem"}}, "file_unreadable", "http.ca_file"),
        ({"issuer": "https://a.example", "jwks": "{not json"}, "invalid_jwks", "jwks"),
        ({"issuer": "https://a.example", "audience": {"a": 1}}, "invalid_type", "audience"),
    ],
)
def test_config_errors_name_the_field(options: Dict[str, Any], code: str, message: str) -> None:
    with pytest.raises(tokenkeep.ConfigError) as info:
        tokenkeep.Verifier(**options)
    note(info.value)
    assert info.value.code == code
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_a_python_object_no_json_can_hold_is_a_config_error() -> None:
    with pytest.raises(tokenkeep.ConfigError) as info:
        tokenkeep.Verifier(issuer="https://a.example", cache={"ttl": object()})
    assert info.value.path == "cache.ttl"


def test_from_jwks_takes_a_dict_or_json_text(issuer: Any) -> None:
    token = issuer.mint({"aud": "api"})
    jwks = issuer.jwks()
    for keys in (jwks, __import__("json").dumps(jwks)):
        with tokenkeep.Verifier.from_jwks(keys, issuer=issuer.url, audience="api", leeway=5) as verifier:
            assert verifier.verify(token)["sub"] == "alice"


def test_a_panic_is_a_tokenkeep_error_with_code_internal_error() -> None:
    with pytest.raises(tokenkeep.TokenkeepError) as info:
        _native._debug_panic()
    assert info.value.code == "internal_error"
    # pyo3's PanicException derives from BaseException; this one is an Exception.
    assert isinstance(info.value, Exception)
    try:
        _native._debug_panic()
    except Exception as e:  # noqa: BLE001 - the point: `except Exception` catches it
        assert type(e).__name__ == "TokenkeepError"


def test_tokens_that_are_not_text() -> None:
    verifier = tokenkeep.Verifier.from_jwks(JWKS, issuer="https://a.example")
    with pytest.raises(tokenkeep.MissingToken) as missing:
        verifier.verify(None)  # type: ignore[arg-type]
    assert missing.value.status == 401
    with pytest.raises(TypeError):
        verifier.verify(42)  # type: ignore[arg-type]
    with pytest.raises(tokenkeep.Malformed):
        verifier.verify(b"\xff\xfe.\x00.x")
    with pytest.raises(tokenkeep.Malformed):
        verifier.verify("\ud800.a.b")
    with pytest.raises(tokenkeep.ConfigError) as bad_now:
        verifier.verify("a.b.c", now=float("nan"))
    assert bad_now.value.path == "now"
    with pytest.raises(tokenkeep.ConfigError):
        verifier.ready(-1)
    with pytest.raises(TypeError):
        verifier.verify("a.b.c", into=dict)
    verifier.close()


def test_rejections_carry_the_runtimes_status() -> None:
    verifier = tokenkeep.Verifier.from_jwks(JWKS, issuer="https://a.example")
    with pytest.raises(tokenkeep.Rejected) as info:
        verifier.verify("not a token")
    assert (info.value.code, info.value.status, info.value.retry_after) == ("malformed", 401, None)
    assert "malformed" in type(info.value).__name__.lower()
