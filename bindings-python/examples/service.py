"""An orders service shaped like the JWKS-failure runbook's: users' ES256
tokens from an OIDC issuer (keys found by discovery), audience
``authenticated``, scopes checked per route.

Run it (the dev issuer stands in for the IdP):

    tokenkeep dev-issuer --port 8900 &
    ISSUER=http://127.0.0.1:8900 uvicorn examples.service:app --port 8000

    TOKEN=$(curl -s -XPOST 127.0.0.1:8900/token \\
      -d '{"claims": {"sub": "me", "aud": "authenticated", "scope": "orders:read"}}' | jq -r .token)
    curl -H "Authorization: Bearer $TOKEN" 127.0.0.1:8000/orders

Settings (environment): ``ISSUER`` (required), ``AUDIENCE`` (default
``authenticated``), ``JWKS_MIN_TTL`` (seconds; the floor of the JWKS cache
TTL, default 60: the tests lower it to watch an outage served from cache),
``READY_TIMEOUT`` (seconds to wait for keys at startup, default 10).

The verifier is built at import, so ``gunicorn --preload`` shares it with
its workers; tokenkeep restarts its background refresh in each one.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, List

from fastapi import FastAPI, Response, Security
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

import tokenkeep
import tokenkeep.prometheus
from tokenkeep.fastapi import JWTBearer, Principal, lifespan

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


class UserClaims(BaseModel):
    """The claims this service relies on, validated for every request."""

    sub: str
    aud: Any
    exp: int
    scope: str = ""


verifier = tokenkeep.Verifier(
    issuer=os.environ["ISSUER"],
    audience=os.environ.get("AUDIENCE", "authenticated"),
    cache={"min_ttl": float(os.environ.get("JWKS_MIN_TTL", "60"))},
)
auth = JWTBearer(verifier, claims=UserClaims)
tokenkeep.prometheus.register()

app = FastAPI(
    title="orders",
    lifespan=lifespan(verifier, timeout=float(os.environ.get("READY_TIMEOUT", "10"))),
)


@app.get("/orders")
async def orders(user: Principal[UserClaims] = Security(auth, scopes=["orders:read"])) -> Dict[str, Any]:
    return {"subject": user.subject, "orders": [], "pid": os.getpid()}


@app.post("/orders")
async def create_order(user: Principal[UserClaims] = Security(auth, scopes=["orders:write"])) -> Dict[str, Any]:
    return {"created_by": user.claims.sub, "pid": os.getpid()}


@app.get("/health")
def health() -> Dict[str, Any]:
    issuers: List[Dict[str, Any]] = verifier.health()
    return {"pid": os.getpid(), "ready": verifier.ready(0), "issuers": issuers}


@app.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
