"""Verification against the real dev issuer (discovery, JWKS over HTTP)."""

from __future__ import annotations

import inspect
import threading
import time
from typing import Any, List

import msgspec
import pydantic
import pytest
from conftest import DevIssuer, note

import tokenkeep


def wait_until(condition: Any, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def verifier(issuer: DevIssuer) -> Any:
    with tokenkeep.Verifier(issuer=issuer.url, audience="api") as v:
        assert v.ready(10)
        yield v


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_each_algorithm_verifies(issuer: DevIssuer, verifier: tokenkeep.Verifier, alg: str) -> None:
    token = issuer.mint({"scope": "a b"}, alg=alg)
    claims = verifier.verify(token)
    assert (claims["sub"], claims["iss"], claims["aud"], claims["scope"]) == ("alice", issuer.url, "api", "a b")
    assert verifier.verify_cached(token) == claims
    assert verifier.verify(token.encode()) == claims


def test_a_cache_hit_hands_out_a_fresh_dict(issuer: DevIssuer, verifier: tokenkeep.Verifier) -> None:
    token = issuer.mint({"roles": ["x"]})
    first = verifier.verify(token)
    first["sub"] = "mallory"
    first.clear()
    again = verifier.verify_cached(token)
    assert again["sub"] == "alice" and again is not first
    assert verifier.verify(token) == again


def test_time_rules_at_now(issuer: DevIssuer, verifier: tokenkeep.Verifier) -> None:
    token = issuer.mint(ttl=60)
    later = time.time() + 3600
    with pytest.raises(tokenkeep.Expired) as info:
        verifier.verify(token, now=later)
    note(info.value)
    with pytest.raises(tokenkeep.Expired):
        verifier.verify_cached(token, now=later)
    assert verifier.verify_cached(token)["sub"] == "alice"


def test_rejections(issuer: DevIssuer, verifier: tokenkeep.Verifier) -> None:
    token = issuer.mint()
    head, body, signature = token.split(".")
    tampered = ".".join([head, body, ("A" if signature[0] != "A" else "B") + signature[1:]])
    with pytest.raises(tokenkeep.InvalidSignature) as bad:
        verifier.verify(tampered)
    with pytest.raises(tokenkeep.WrongAudience):
        verifier.verify(issuer.mint({"aud": "other"}))
    with pytest.raises(tokenkeep.WrongIssuer):
        verifier.verify(issuer.mint({"iss": "https://elsewhere.example"}))
    for e in (bad.value,):
        note(e)
        assert token not in str(e) and signature not in repr(e)


def test_every_call_form_of_verify(issuer: DevIssuer, verifier: tokenkeep.Verifier) -> None:
    # `verify(token)` has its own fast entry; every other form goes through
    # the full argument parsing: both must give the same answers and errors.
    token = issuer.mint({"aud": ["api", "web"], "scope": "a", "nested": {"iss": "x", "aud": ["y"]}})
    claims = verifier.verify(token)
    assert claims["aud"] == ["api", "web"] and claims["nested"] == {"iss": "x", "aud": ["y"]}
    for method in (verifier.verify, verifier.verify_cached):
        assert method(token) == claims
        assert method(token=token) == claims
        assert method(token, now=None) == claims
        assert method(token, into=None) == claims
        with pytest.raises(TypeError):
            method()  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            method(token, time.time())  # type: ignore[misc]
        with pytest.raises(TypeError):
            method(token, when=1)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            method(42)  # type: ignore[arg-type]
        with pytest.raises(tokenkeep.MissingToken):
            method(None)  # type: ignore[arg-type]
        # Lone surrogates cannot be UTF-8: a malformed token, not a crash.
        with pytest.raises(tokenkeep.Rejected):
            method(token + "\udc80")
    assert tokenkeep.Verifier.verify(verifier, token) == claims
    assert tokenkeep.Verifier.verify_cached(verifier, token) == claims
    with pytest.raises(TypeError):
        tokenkeep.Verifier.verify(object(), token)  # type: ignore[arg-type]
    assert list(inspect.signature(tokenkeep.Verifier.verify).parameters) == ["self", "token", "now", "into"]
    assert "claims" in (tokenkeep.Verifier.verify.__doc__ or "")


class Claims(pydantic.BaseModel):
    sub: str
    aud: str
    exp: int


class ClaimsStruct(msgspec.Struct):
    sub: str
    exp: int


def test_typed_claims(issuer: DevIssuer, verifier: tokenkeep.Verifier) -> None:
    token = issuer.mint()
    model = verifier.verify(token, into=Claims)
    assert isinstance(model, Claims) and model.sub == "alice" and model.aud == "api"
    struct = verifier.verify_cached(token, into=ClaimsStruct)
    assert isinstance(struct, ClaimsStruct) and struct.sub == "alice"
    with pytest.raises(pydantic.ValidationError):
        verifier.verify(issuer.mint({"aud": ["api", "web"]}), into=Claims)


def test_health_refresh_and_repr(issuer: DevIssuer, verifier: tokenkeep.Verifier) -> None:
    (health,) = verifier.health()
    assert health["issuer"] == issuer.url
    assert health["state"] in ("fresh", "refreshing_ahead")
    assert health["key_count"] >= 3 and health["last_error_code"] is None
    assert set(health) == {
        "issuer", "state", "key_count", "age_seconds", "fresh_for_seconds", "next_fetch_in_seconds",
        "consecutive_failures", "last_error_code", "fetches", "fetches_on_miss",
    }
    assert isinstance(verifier.refresh(), bool)
    assert verifier.issuers == [issuer.url]
    assert repr(verifier) == f'Verifier(issuers=["{issuer.url}"])'


def test_rotation_callback_and_refetch_on_a_new_kid(own_issuer: DevIssuer) -> None:
    seen: List[int] = []
    with tokenkeep.Verifier(issuer=own_issuer.url, audience="api") as verifier:
        assert verifier.ready(10)
        verifier.on_rotation(seen.append)
        old = own_issuer.mint()
        assert verifier.verify(old)["sub"] == "alice"
        own_issuer.rotate()
        new = own_issuer.mint()
        # The new kid is unknown: verify waits for one refetch, then passes.
        assert verifier.verify(new)["sub"] == "alice"
        assert verifier.verify(old)["sub"] == "alice"
        wait_until(lambda: len(seen) >= 1, "the rotation callback")
        assert verifier.health()[0]["fetches_on_miss"] >= 1
    assert verifier.closed
    verifier.close()  # idempotent
    # Verification goes on with the keys at hand after close.
    assert verifier.verify_cached(new)["sub"] == "alice"
    assert "closed" in repr(verifier)


def test_threads_verify_at_once(issuer: DevIssuer, verifier: tokenkeep.Verifier) -> None:
    tokens = [issuer.mint({"n": i}, alg="RS256") for i in range(20)]
    errors: List[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                for i, token in enumerate(tokens):
                    assert verifier.verify(token)["n"] == i
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
