"""Every case of tests/vectors/bearer.json through Verifier.authenticate and
authenticate_async: the runtime's bearer authentication (header, scopes,
status and challenge), converted to (claims, scopes) or tokenkeep.Denied."""

from __future__ import annotations

import asyncio
import json
import typing
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from conftest import VECTOR_DIR, DevIssuer, free_port, note

import tokenkeep

CASES: List[Dict[str, Any]] = json.loads((VECTOR_DIR / "bearer.json").read_text())["cases"]
AUDIENCE = "api"  # the dev issuer fixture mints aud "api" by default; the vectors' claims go over it


@pytest.fixture(scope="module")
def verifier(issuer: DevIssuer) -> Iterator[tokenkeep.Verifier]:
    with tokenkeep.Verifier(issuer=issuer.url, audience=AUDIENCE) as v:
        assert v.ready(10)
        yield v


def request(case: Dict[str, Any], issuer: DevIssuer) -> Tuple[Optional[str], List[str], Optional[str]]:
    token = issuer.mint({"aud": AUDIENCE, **case["claims"]})
    template: Optional[str] = case["authorization"]
    authorization = None if template is None else template.replace("{token}", token)
    return authorization, list(case["required"]), case["realm"]


def answer(outcome: Any) -> Dict[str, Any]:
    """The outcome in the vectors' form."""
    if isinstance(outcome, tokenkeep.Denied):
        note(outcome)
        # Every refusal's code is one of the listed ones (tests/vectors/codes.json).
        assert outcome.code in typing.get_args(tokenkeep.RejectionCode) + typing.get_args(tokenkeep.DenialCode)
        assert set(outcome.headers) <= {"WWW-Authenticate", "Retry-After"}
        retry = outcome.headers.get("Retry-After")
        return {
            "status": outcome.status,
            "error": outcome.code,
            "www_authenticate": outcome.headers.get("WWW-Authenticate"),
            "retry_after": None if retry is None else int(retry),
        }
    claims, scopes = outcome
    assert isinstance(claims, dict) and claims["sub"] == "alice" and claims["aud"] == AUDIENCE
    assert isinstance(scopes, list)
    return {"status": 200, "scopes": scopes}


def test_the_vectors_are_all_here() -> None:
    assert len(CASES) >= 20
    assert len({case["name"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_authenticate(case: Dict[str, Any], verifier: tokenkeep.Verifier, issuer: DevIssuer) -> None:
    authorization, required, realm = request(case, issuer)
    try:
        outcome: Any = verifier.authenticate(authorization, required, realm=realm)
    except tokenkeep.Denied as denied:
        outcome = denied
    assert answer(outcome) == case["expect"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_authenticate_async(case: Dict[str, Any], verifier: tokenkeep.Verifier, issuer: DevIssuer) -> None:
    authorization, required, realm = request(case, issuer)

    async def run() -> Any:
        try:
            return await verifier.authenticate_async(authorization, required, realm=realm)
        except tokenkeep.Denied as denied:
            return denied

    assert answer(asyncio.run(run())) == case["expect"]


def test_a_denial_is_a_tokenkeep_error_without_the_token(verifier: tokenkeep.Verifier, issuer: DevIssuer) -> None:
    token = issuer.mint({"aud": "someone-else"})
    with pytest.raises(tokenkeep.TokenkeepError) as info:
        verifier.authenticate(f"Bearer {token}")
    denied = info.value
    assert isinstance(denied, tokenkeep.Denied) and not isinstance(denied, tokenkeep.Rejected)
    assert (denied.status, denied.code) == (401, "wrong_audience")
    for text in (str(denied), repr(denied), repr(denied.headers)):
        assert token not in text and token.rsplit(".", 1)[1] not in text
    # The claims are the dict verify gives; scopes default to none required.
    good = issuer.mint({"scope": "a b"})
    claims, scopes = verifier.authenticate(f"Bearer {good}")
    assert claims == verifier.verify(good) and scopes == ["a", "b"]


def test_scopes_must_be_a_sequence_of_str(verifier: tokenkeep.Verifier) -> None:
    with pytest.raises(TypeError):
        verifier.authenticate(None, "orders:read")  # type: ignore[arg-type]  # a str is not a list of scopes


def test_no_usable_keys_is_503_with_retry_after(issuer: DevIssuer) -> None:
    with tokenkeep.Verifier(
        issuer=issuer.url, audience=AUDIENCE, jwks_url=f"http://127.0.0.1:{free_port()}/jwks"
    ) as outage:
        with pytest.raises(tokenkeep.Denied) as info:
            outage.authenticate(f"Bearer {issuer.mint()}", ["orders:read"], realm="api")
        assert (info.value.status, info.value.code) == (503, "keys_unavailable")
        assert info.value.headers == {"Retry-After": "5"}
        note(info.value)
