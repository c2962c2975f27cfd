"""The example service under real gunicorn with --preload and 2 uvicorn
workers: the verifier built at import (in the master, before fork) keeps
working in both workers, each refetches keys on a new kid, and shutdown
does not hang."""

from __future__ import annotations

import time
from typing import Dict, Optional, Set

import httpx
from conftest import DevIssuer
from servers import Server


def get(server: Server, path: str, token: Optional[str] = None) -> httpx.Response:
    """A request on a new connection, so the kernel may pick either worker."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(server.url + path, headers=headers, timeout=30)


def test_preloaded_verifier_works_in_both_workers() -> None:
    idp = DevIssuer("--alg", "ES256", name="gunicorn-issuer")
    server = Server(
        [
            "gunicorn", "--preload", "--workers", "2", "--worker-class", "uvicorn.workers.UvicornWorker",
            "--bind", "127.0.0.1:{port}", "--graceful-timeout", "10", "examples.service:app",
        ],
        {"ISSUER": idp.url},
        "gunicorn",
    )
    try:
        server.wait_up()

        def serve_both(token: str) -> Dict[int, int]:
            """Requests until both workers answered 200; status counts per pid."""
            pids: Dict[int, int] = {}
            deadline = time.monotonic() + 60
            while len(pids) < 2:
                assert time.monotonic() < deadline, pids
                r = get(server, "/orders", token)
                assert r.status_code == 200, r.text
                pids[r.json()["pid"]] = pids.get(r.json()["pid"], 0) + 1
            return pids

        token = idp.mint({"aud": "authenticated", "scope": "orders:read"})
        first = serve_both(token)
        assert server.process.pid not in first, "the master does not serve"

        # A new kid: each worker refetches on its own.
        idp.rotate()
        rotated = serve_both(idp.mint({"aud": "authenticated", "scope": "orders:read"}))
        assert set(rotated) == set(first)
        fetched: Set[int] = set()
        deadline = time.monotonic() + 60
        while fetched != set(first):
            assert time.monotonic() < deadline
            health = get(server, "/health").json()
            if health["issuers"][0]["fetches_on_miss"] >= 1 and health["ready"]:
                fetched.add(health["pid"])
        print(f"gunicorn --preload: workers {sorted(first)} served {first}, then {rotated} after a rotation")
    finally:
        code = server.stop(seconds=30)
        idp.stop()
    assert code == 0, f"gunicorn did not stop cleanly ({code}): {server.log_path.read_text()[-2000:]}"
