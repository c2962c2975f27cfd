"""The example service (examples/service.py) under real uvicorn on
127.0.0.1, called with httpx: 200, each 401/403/503 with its header, a key
rotation mid-traffic with 0 wrongful 401s, an outage served from cache; and
its outbound side on `tokenkeep dev-stack --postgres`: a Vault token from a
JWT file and a database lease feeding a psycopg connection, queried through
every lease rotation with 0 failed queries."""

from __future__ import annotations

import pathlib
import signal
import threading
import time
from typing import Any, Dict, List, Optional

import httpx

from conftest import DevIssuer, DevStack, issued
from servers import Server


def auth(token: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def mint(idp: DevIssuer, **claims: Any) -> str:
    return idp.mint({"aud": "authenticated", "scope": "orders:read", **claims})


def uvicorn(idp: DevIssuer, **env: str) -> Server:
    return Server(
        ["uvicorn", "examples.service:app", "--host", "127.0.0.1", "--port", "{port}"],
        {"ISSUER": idp.url, **env},
        "uvicorn",
    )


def stopped_cleanly(code: Optional[int]) -> bool:
    # uvicorn exits by re-raising the SIGTERM it handled, after a clean shutdown.
    return code in (0, -signal.SIGTERM)


def test_503_with_retry_after_until_the_idp_answers() -> None:
    # The IdP is down when the service starts: requests get 503, not 401.
    idp = DevIssuer("--alg", "ES256", name="service-issuer")
    server = None
    try:
        idp.outage(8)
        server = uvicorn(idp, READY_TIMEOUT="0.5")
        server.wait_up()
        token = mint(idp)
        r = server.http.get("/orders", headers=auth(token))
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "5" and r.json() == {"detail": "keys_unavailable"}
        assert "www-authenticate" not in r.headers
        deadline = time.monotonic() + 60
        while (status := server.http.get("/orders", headers=auth(token)).status_code) != 200:
            assert status == 503, status
            assert time.monotonic() < deadline, "keys never arrived after the outage"
            time.sleep(0.2)
    finally:
        if server is not None:
            assert stopped_cleanly(server.stop())
        idp.stop()


def test_service_under_uvicorn() -> None:
    idp = DevIssuer("--alg", "ES256", "--jwks-max-age", "2s", name="service-issuer")
    server = uvicorn(idp, JWKS_MIN_TTL="1")
    try:
        server.wait_up()
        token = mint(idp)

        # 200, and each refusal with its header.
        r = server.http.get("/orders", headers=auth(token))
        assert r.status_code == 200 and r.json()["subject"] == "alice"
        r = server.http.get("/orders")
        assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer error="invalid_request"'
        r = server.http.get("/orders", headers=auth(idp.mint({"aud": "authenticated", "exp": 1_000_000_000})))
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_token", error_description="expired"'
        r = server.http.post("/orders", headers=auth(token))
        assert r.status_code == 403
        assert r.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="orders:write"'
        r = server.http.post("/orders", headers=auth(mint(idp, scope="orders:write")))
        assert r.status_code == 200 and r.json()["created_by"] == "alice"

        # A key rotation mid-traffic (clients mint fresh tokens all along, so
        # they switch to the new kid at once): not one wrongful 401.
        statuses: List[int] = []
        stop = threading.Event()

        def traffic() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                while not stop.is_set():
                    statuses.append(http.get("/orders", headers=auth(mint(idp))).status_code)

        clients = [threading.Thread(target=traffic) for _ in range(3)]
        for c in clients:
            c.start()
        time.sleep(1.0)
        idp.rotate()
        time.sleep(2.0)
        stop.set()
        for c in clients:
            c.join()
        assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
        print(f"rotation: {len(statuses)} requests, all 200")

        # An outage longer than the fresh TTL: served from the cache.
        token = mint(idp)
        failures_before = idp.stats()["by_status"].get("503", 0)
        idp.outage(5)
        served: List[int] = []
        states = set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            served.append(server.http.get("/orders", headers=auth(token)).status_code)
            states.add(server.http.get("/health").json()["issuers"][0]["state"])
            time.sleep(0.1)
        assert set(served) == {200}, served
        assert "stale" in states, states
        assert idp.stats()["by_status"].get("503", 0) > failures_before
        print(f"outage: {len(served)} requests served from cache, states seen {sorted(states)}")

        # Metrics over HTTP from the service itself.
        text = server.http.get("/metrics").text
        assert 'auth_jwt_invalid_total{reason="expired"}' in text
        assert "jwks_keys{" in text
    finally:
        code = server.stop()
        idp.stop()
    assert stopped_cleanly(code), code


def test_database_queried_through_every_lease_rotation(tmp_path: pathlib.Path) -> None:
    # Short TTLs: the Vault token is renewed every few seconds, the database
    # lease replaced every few seconds (before its 8 s max TTL).
    stack = DevStack(
        "--postgres", "--token-ttl", "6s", "--token-max-ttl", "120s", "--lease-ttl", "4s", "--lease-max-ttl", "8s",
        name="service-stack",
    )
    server = None
    try:
        pg, bao = stack.postgres, stack.openbao
        assert pg is not None
        jwt_file = tmp_path / "jwt"
        jwt_file.write_text(stack.login_jwt(ttl=600))
        server = Server(
            ["uvicorn", "examples.service:app", "--host", "127.0.0.1", "--port", "{port}"],
            {
                "ISSUER": stack.issuer["url"],
                "VAULT_ADDR": bao["addr"],
                "VAULT_ROLE": bao["role"],
                "VAULT_AUTH_MOUNT": bao["auth_mount"],
                "VAULT_JWT_FILE": str(jwt_file),
                "DB_LEASE_PATH": pg["lease_path"],
                "PGHOST": str(pg["host"]),
                "PGPORT": str(pg["port"]),
                "PGDATABASE": pg["database"],
            },
            "uvicorn-outbound",
        )
        server.wait_up()
        claims = {"iss": stack.issuer["url"], "sub": "alice", "aud": "authenticated", "scope": "orders:read"}
        minted = stack.http.post(stack.issuer["token_url"], json={"claims": claims, "ttl": 600})
        minted.raise_for_status()
        token = issued(minted.json()["token"])

        health = server.http.get("/health").json()
        for name in ("vault_token", "database_lease"):
            assert health[name]["state"] in ("fresh", "refreshing"), health
            assert isinstance(health[name]["token_age_seconds"], (int, float)), health
            assert isinstance(health[name]["expires_in_seconds"], (int, float)), health
        first_connections = health["database_connections"]
        assert first_connections >= 1, health
        r = server.http.get("/orders/db")
        assert r.status_code == 401  # the database route is guarded like the others

        # Traffic until the lease was replaced twice (two new connections
        # after the first): every query answers 200.
        statuses: Dict[int, int] = {}
        users: List[str] = []
        stop = threading.Event()

        def traffic() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                while not stop.is_set():
                    r = http.get("/orders/db", headers=auth(token))
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    if r.status_code == 200:
                        users.append(r.json()["db_user"])
                    time.sleep(0.01)

        clients = [threading.Thread(target=traffic) for _ in range(2)]
        for c in clients:
            c.start()
        try:
            deadline = time.monotonic() + 60
            while server.http.get("/health").json()["database_connections"] < first_connections + 2:
                assert time.monotonic() < deadline, server.http.get("/health").json()
                time.sleep(0.2)
            time.sleep(1.0)  # queries on the newest connection too
        finally:
            stop.set()
            for c in clients:
                c.join()
        assert set(statuses) == {200}, statuses
        distinct = list(dict.fromkeys(users))
        assert len(distinct) >= 3, distinct
        health = server.http.get("/health").json()
        assert health["vault_token"]["last_refresh_ok"] is True, health
        print(f"lease rotations: {statuses[200]} queries, all 200, as {len(distinct)} database users in turn")
    finally:
        code = server.stop() if server is not None else 0
        stack.stop()
    assert stopped_cleanly(code), code
