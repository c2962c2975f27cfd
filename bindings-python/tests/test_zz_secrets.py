"""No token, key or secret the suite issued appears in anything it wrote:
logs of every logger (with extra), exception str/repr, captured stdout and
stderr of every test, failure tracebacks, and the logs of every server it
started (dev issuer, dev stack, uvicorn, gunicorn). The outbound tests add
what OpenBao and PostgreSQL handed out (root token, login JWTs, Vault tokens,
KV values, database passwords, lease ids) and note() their handles' and
Secrets' str/repr. Runs last."""

from __future__ import annotations

import pathlib
import tempfile

import pytest
from conftest import OUTPUT_DIR, SECRETS, find_secrets


def test_the_search_finds_a_planted_secret() -> None:
    with tempfile.TemporaryDirectory() as d:
        (pathlib.Path(d) / "x.log").write_text("before eyJplanted.secret.token after")
        assert find_secrets(pathlib.Path(d), ["eyJplanted.secret.token"]) == ["x.log: eyJpla..."]
        assert find_secrets(pathlib.Path(d), ["absent"]) == []


@pytest.mark.last
def test_no_secret_in_any_output() -> None:
    assert len(SECRETS) > 100, "the suite issued few secrets: is it searching anything?"
    files = [p for p in OUTPUT_DIR.rglob("*") if p.is_file()]
    assert any(p.name == "all-records.jsonl" for p in files)
    found = find_secrets(OUTPUT_DIR, sorted(set(SECRETS)))
    print(f"searched {len(files)} files ({sum(p.stat().st_size for p in files)} bytes) for {len(set(SECRETS))} secrets")
    assert found == []

