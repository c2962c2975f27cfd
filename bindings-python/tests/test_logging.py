"""Events reach the `tokenkeep` logger with structured extra, as the runbook's
jq queries read them from python-json-logger output."""

from __future__ import annotations

import io
import json
import logging
import time
from typing import Any, Callable, Dict, Iterator, List

import pytest
from conftest import DevIssuer, free_port
from pythonjsonlogger.json import JsonFormatter

import tokenkeep


@pytest.fixture
def json_lines() -> Iterator[Callable[[], List[Dict[str, Any]]]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("tokenkeep")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def select(lines: List[Dict[str, Any]], event: str) -> List[Dict[str, Any]]:
    """jq 'select(.event == "<event>")'"""
    return [line for line in lines if line.get("event") == event]


def wait_for(read: Callable[[], List[Dict[str, Any]]], event: str, seconds: float = 30.0) -> List[Dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while True:
        found = select(read(), event)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_runbook_events(own_issuer: DevIssuer, json_lines: Callable[[], List[Dict[str, Any]]]) -> None:
    verifier = tokenkeep.Verifier(issuer=own_issuer.url, audience="api")
    assert verifier.ready(10)
    # jq 'select(.event == "jwks_refreshed") | .key_count'
    refreshed = wait_for(json_lines, "jwks_refreshed")
    assert refreshed and refreshed[0]["key_count"] == 1
    assert refreshed[0]["name"] == "tokenkeep" and refreshed[0]["levelname"] == "INFO"
    assert refreshed[0]["source"] == own_issuer.url

    # jq 'select(.event == "jwt_validation_failed") | {reason, kid}'
    token = own_issuer.mint({"aud": "elsewhere"})
    with pytest.raises(tokenkeep.WrongAudience):
        verifier.verify(token)
    failed = wait_for(json_lines, "jwt_validation_failed")
    assert [(f["reason"], f["issuer"]) for f in failed] == [("wrong_audience", own_issuer.url)]
    assert failed[0]["kid"]
    assert token not in json.dumps(json_lines())

    # jq 'select(.event == "jwks_refresh_failed") | .error'
    own_issuer.outage(5)
    own_issuer.rotate()
    with pytest.raises(tokenkeep.Rejected):
        verifier.verify(own_issuer.mint())  # an unknown kid: one refetch, which fails
    failures = wait_for(json_lines, "jwks_refresh_failed")
    assert failures and failures[0]["error"] == "http_5xx" and failures[0]["levelname"] == "WARNING"
    assert failures[0]["serving_stale"] is True
    verifier.close()


def test_fields_named_like_record_attributes_do_not_clobber_them(json_lines: Callable[[], List[Dict[str, Any]]]) -> None:
    from tokenkeep import _logging

    _logging.emit("credential_renewed", "info", "vault_token", "app", "renewed", {"name": "app", "ttl": 3})
    (line,) = select(json_lines(), "credential_renewed")
    assert line["name"] == "tokenkeep" and line["name_"] == "app" and line["ttl"] == 3


def test_a_failing_jwks_url_logs_from_the_background(json_lines: Callable[[], List[Dict[str, Any]]]) -> None:
    verifier = tokenkeep.Verifier(issuer="https://idp.example", jwks_url=f"http://127.0.0.1:{free_port()}/jwks")
    failures = wait_for(json_lines, "jwks_refresh_failed")
    assert failures and failures[0]["error"] == "connect" and failures[0]["serving_stale"] is False
    verifier.close()
