"""tokenkeep.fastapi in an app: OpenAPI bearer scheme, the principal, and
every RFC 6750 answer (401 invalid_request / invalid_token, 403
insufficient_scope, 503 + Retry-After on keys_unavailable)."""

from __future__ import annotations

from typing import Any, Dict, Iterator

import pydantic
import pytest
from conftest import DevIssuer, free_port
from fastapi import Depends, FastAPI, Security
from fastapi.testclient import TestClient

import tokenkeep
from tokenkeep.fastapi import JWTBearer, Principal, lifespan


class OrderClaims(pydantic.BaseModel):
    sub: str
    scope: str = ""


def make_app(verifier: tokenkeep.Verifier) -> FastAPI:
    auth = JWTBearer(verifier)
    typed = JWTBearer(verifier, claims=OrderClaims, scheme_name="typed")
    app = FastAPI(lifespan=lifespan(verifier, timeout=10))

    @app.get("/me")
    async def me(user: Principal[Dict[str, Any]] = Depends(auth)) -> Dict[str, Any]:
        return {"sub": user.subject, "scopes": sorted(user.scopes), "aud": user.claims["aud"]}

    @app.get("/orders")
    async def orders(user: Principal[OrderClaims] = Security(typed, scopes=["orders:read"])) -> Dict[str, Any]:
        assert isinstance(user.claims, OrderClaims)
        return {"sub": user.claims.sub}

    return app


@pytest.fixture
def client(issuer: DevIssuer) -> Iterator[TestClient]:
    verifier = tokenkeep.Verifier(issuer=issuer.url, audience="api")
    with TestClient(make_app(verifier)) as c:
        yield c
    assert verifier.closed, "the lifespan closes the verifier at shutdown"


def test_openapi_has_an_http_bearer_scheme(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["JWTBearer"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert doc["paths"]["/me"]["get"]["security"] == [{"JWTBearer": []}]
    assert doc["paths"]["/orders"]["get"]["security"] == [{"typed": ["orders:read"]}]


def test_a_valid_token_gives_the_principal(client: TestClient, issuer: DevIssuer) -> None:
    token = issuer.mint({"scope": "orders:read profile", "scp": ["extra"]})
    r = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.json() == {"sub": "alice", "scopes": ["extra", "orders:read", "profile"], "aud": "api"}
    r = client.get("/orders", headers={"Authorization": f"bearer {token}"})
    assert r.status_code == 200 and r.json() == {"sub": "alice"}


def test_missing_or_other_scheme_is_invalid_request(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Basic YTpi"}, {"Authorization": "Bearer "}):
        r = client.get("/me", headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_request"'


def test_rejected_tokens_are_invalid_token_with_the_code(client: TestClient, issuer: DevIssuer) -> None:
    cases = {
        "wrong_audience": issuer.mint({"aud": "other"}),
        "expired": issuer.mint({"exp": 1_000_000_000}),
        "malformed": "not-a-jwt",
    }
    for code, token in cases.items():
        r = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, code
        assert r.headers["www-authenticate"] == f'Bearer error="invalid_token", error_description="{code}"'
        assert r.json() == {"detail": code}


def test_missing_scope_is_403_insufficient_scope(client: TestClient, issuer: DevIssuer) -> None:
    token = issuer.mint({"scope": "profile"})
    r = client.get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert r.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="orders:read"'
    assert r.json() == {"detail": "insufficient_scope"}


def test_required_scopes_are_the_dependencys_then_the_routes_each_once(issuer: DevIssuer) -> None:
    verifier = tokenkeep.Verifier(issuer=issuer.url, audience="api")
    auth = JWTBearer(verifier, scopes=["orders:write", "api"], realm="shop")
    app = FastAPI()

    @app.get("/orders")
    async def orders(
        user: Principal[Dict[str, Any]] = Security(auth, scopes=["api", "orders:read"]),
    ) -> Dict[str, Any]:
        return {"scopes": sorted(user.scopes)}

    with TestClient(app) as c:
        r = c.get("/orders", headers={"Authorization": f"Bearer {issuer.mint({'scope': 'api orders:read'})}"})
        assert r.status_code == 403
        assert r.headers["www-authenticate"] == (
            'Bearer realm="shop", error="insufficient_scope", scope="orders:write api orders:read"'
        )
        r = c.get("/orders")
        assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="shop", error="invalid_request"'
        token = issuer.mint({"scp": ["orders:read", "orders:write"], "scope": "api"})
        r = c.get("/orders", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json() == {"scopes": ["api", "orders:read", "orders:write"]}
    verifier.close()


def test_no_usable_keys_is_503_with_retry_after(issuer: DevIssuer) -> None:
    # Keys from a port nobody listens on: an IdP outage from the start.
    verifier = tokenkeep.Verifier(
        issuer=issuer.url, audience="api", jwks_url=f"http://127.0.0.1:{free_port()}/jwks"
    )
    app = FastAPI()
    auth = JWTBearer(verifier)

    @app.get("/me")
    async def me(user: Principal[Dict[str, Any]] = Depends(auth)) -> Dict[str, Any]:
        return {}

    with TestClient(app) as c:
        r = c.get("/me", headers={"Authorization": f"Bearer {issuer.mint()}"})
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    assert "www-authenticate" not in r.headers
    assert r.json() == {"detail": "keys_unavailable"}
    verifier.close()
