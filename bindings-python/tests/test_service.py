"""The example service (examples/service.py) under real uvicorn on
127.0.0.1, called with httpx: 200, each 401/403/503 with its header, a key
rotation mid-traffic with 0 wrongful 401s, an outage served from cache."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any, Dict, List, Optional

import httpx

from conftest import DevIssuer
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
