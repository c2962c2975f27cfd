"""The example service under real gunicorn with --preload and 2 uvicorn
workers: the verifier and the Vault token built at import (in the master,
before fork) keep working in both workers: each refetches keys on a new kid
and renews the token (OpenBao of `tokenkeep dev-stack`, a 4 s token TTL),
and shutdown does not hang."""

from __future__ import annotations

import pathlib
import time
from typing import Any, Dict, Optional, Set

import httpx
from conftest import DevIssuer, DevStack
from servers import Server


def get(server: Server, path: str, token: Optional[str] = None) -> httpx.Response:
    """A request on a new connection, so the kernel may pick either worker."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(server.url + path, headers=headers, timeout=30)


TOKEN_TTL = 4


def test_preloaded_verifier_and_vault_token_work_in_both_workers(tmp_path: pathlib.Path) -> None:
    idp = DevIssuer("--alg", "ES256", name="gunicorn-issuer")
    # The users' IdP above; OpenBao (trusting the stack's own issuer) for the
    # service's Vault token, renewed every few seconds.
    stack = DevStack("--token-ttl", f"{TOKEN_TTL}s", "--token-max-ttl", "300s", name="gunicorn-stack")
    jwt_file = tmp_path / "jwt"
    jwt_file.write_text(stack.login_jwt(ttl=600))
    bao = stack.openbao
    server = Server(
        [
            "gunicorn", "--preload", "--workers", "2", "--worker-class", "uvicorn.workers.UvicornWorker",
            "--bind", "127.0.0.1:{port}", "--graceful-timeout", "10", "examples.service:app",
        ],
        {
            "ISSUER": idp.url,
            "VAULT_ADDR": bao["addr"],
            "VAULT_ROLE": bao["role"],
            "VAULT_AUTH_MOUNT": bao["auth_mount"],
            "VAULT_JWT_FILE": str(jwt_file),
        },
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

        # The Vault token the master logged in for (before fork): each worker
        # renews it on its own. Renewals keep its age; without them, a token
        # older than its TTL would have expired, so an age past twice the TTL
        # with time left proves renewals after the fork in that worker.
        renewed: Dict[int, Dict[str, Any]] = {}
        deadline = time.monotonic() + 60
        while set(renewed) != set(first):
            assert time.monotonic() < deadline, renewed
            health = get(server, "/health").json()
            token = health["vault_token"]
            assert token["state"] in ("fresh", "refreshing"), health
            assert token["consecutive_failures"] == 0, health
            if token["token_age_seconds"] > 2 * TOKEN_TTL and token["expires_in_seconds"] > 0:
                renewed[health["pid"]] = token
            time.sleep(0.2)
        print(
            f"gunicorn --preload: workers {sorted(first)} served {first}, then {rotated} after a rotation; "
            f"Vault token renewed in each: {renewed}"
        )
    finally:
        code = server.stop(seconds=30)
        idp.stop()
        stack.stop()
    assert code == 0, f"gunicorn did not stop cleanly ({code}): {server.log_path.read_text()[-2000:]}"
