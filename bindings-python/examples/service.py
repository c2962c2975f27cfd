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

The outbound side (the JWT-SVID incident's: a backend that logged in to
Vault once with its JWT and lost Vault an hour later): with ``VAULT_ROLE``
set, a Vault token from JWT login with the workload's JWT file, renewed and
replaced by tokenkeep; with ``DB_LEASE_PATH`` set too, a database lease
(e.g. ``database/creds/app``) read with that token, whose credentials feed
a psycopg connection replaced on every lease rotation. ``GET /orders/db``
queries the database; ``/health`` shows the token's and the lease's age and
expiry. Settings: ``VAULT_ADDR`` (or ``BAO_ADDR``), ``VAULT_ROLE``,
``VAULT_JWT_FILE``, ``VAULT_AUTH_MOUNT`` (default ``jwt``), ``DB_LEASE_PATH``
and libpq's ``PGHOST``, ``PGPORT``, ``PGDATABASE``.

The verifier and the Vault handles are built at import, so ``gunicorn
--preload`` shares them with its workers; tokenkeep restarts their background
refresh in each one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple

import psycopg
from fastapi import FastAPI, HTTPException, Response, Security
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


class Database:
    """One psycopg connection logged in with the lease's current credentials,
    replaced by a new one on each rotation of the lease (the old credentials
    stay valid for the lease's grace window, so no query fails meanwhile)."""

    def __init__(self, lease: tokenkeep.VaultLease) -> None:
        self.lease = lease
        self.connections = 0
        self._conn: Optional[psycopg.AsyncConnection[Tuple[Any, ...]]] = None
        self._lock = asyncio.Lock()
        self._follower: Optional[asyncio.Task[None]] = None

    async def start(self) -> None:
        # The iterator first, so no rotation can fall between the first
        # connection and the loop.
        rotations = self.lease.rotations()
        try:
            await self._reconnect()
        except (tokenkeep.CredentialUnavailable, psycopg.Error) as e:
            logging.getLogger("orders").warning("database not reachable yet: %s", e)
        self._follower = asyncio.create_task(self._follow(rotations))

    async def _follow(self, rotations: tokenkeep.RotationIterator) -> None:
        async for _ in rotations:
            # The count also moves when the old credential expires with its
            # token before the new one is read: wait for the new one then.
            if not await self.lease.ready_async(30):
                logging.getLogger("orders").warning("no new database credentials within 30 s")
                continue
            try:
                await self._reconnect()
            except (tokenkeep.CredentialUnavailable, psycopg.Error) as e:
                # The current connection serves on; the next rotation retries.
                logging.getLogger("orders").warning("new database credentials not usable: %s", e)

    async def _reconnect(self) -> None:
        lease = self.lease.current()
        conn = await psycopg.AsyncConnection.connect(
            user=lease["username"], password=lease["password"], autocommit=True, connect_timeout=10
        )
        async with self._lock:
            old, self._conn = self._conn, conn
            self.connections += 1
        if old is not None:
            await old.close()

    async def query(self, sql: str) -> Tuple[Any, ...]:
        async with self._lock:
            if self._conn is None:
                raise HTTPException(status_code=503, detail="database_unavailable", headers={"Retry-After": "5"})
            row = await (await self._conn.execute(sql)).fetchone()
        assert row is not None
        return row

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
        async with self._lock:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None


vault_token: Optional[tokenkeep.VaultToken] = None
db_lease: Optional[tokenkeep.VaultLease] = None
database: Optional[Database] = None
if os.environ.get("VAULT_ROLE"):
    vault_token = tokenkeep.VaultToken(
        role=os.environ["VAULT_ROLE"],
        jwt_file=os.environ["VAULT_JWT_FILE"],
        auth_mount=os.environ.get("VAULT_AUTH_MOUNT", "jwt"),
    )
    if os.environ.get("DB_LEASE_PATH"):
        db_lease = tokenkeep.VaultLease(vault_token, path=os.environ["DB_LEASE_PATH"])
        database = Database(db_lease)

handles = [h for h in (verifier, vault_token, db_lease) if h is not None]
tokenkeep_lifespan = lifespan(*handles, timeout=float(os.environ.get("READY_TIMEOUT", "10")))


@asynccontextmanager
async def service_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """tokenkeep's handles ready (and closed at the end), then the database."""
    async with tokenkeep_lifespan(app):
        if database is not None:
            await database.start()
        try:
            yield
        finally:
            if database is not None:
                await database.stop()


app = FastAPI(title="orders", lifespan=service_lifespan)


@app.get("/orders")
async def orders(user: Principal[UserClaims] = Security(auth, scopes=["orders:read"])) -> Dict[str, Any]:
    return {"subject": user.subject, "orders": [], "pid": os.getpid()}


@app.post("/orders")
async def create_order(user: Principal[UserClaims] = Security(auth, scopes=["orders:write"])) -> Dict[str, Any]:
    return {"created_by": user.claims.sub, "pid": os.getpid()}


@app.get("/orders/db")
async def orders_db(user: Principal[UserClaims] = Security(auth, scopes=["orders:read"])) -> Dict[str, Any]:
    if database is None:
        raise HTTPException(status_code=404, detail="no database configured")
    db_user, count = await database.query("select current_user, count(*) from pg_stat_activity")
    return {"subject": user.subject, "db_user": db_user, "sessions": count, "pid": os.getpid()}


@app.get("/health")
def health() -> Dict[str, Any]:
    issuers: List[Dict[str, Any]] = verifier.health()
    body: Dict[str, Any] = {"pid": os.getpid(), "ready": verifier.ready(0), "issuers": issuers}
    # Each: state, token_age_seconds, expires_in_seconds, next refresh, failures.
    if vault_token is not None:
        body["vault_token"] = vault_token.health()
    if db_lease is not None and database is not None:
        body["database_lease"] = db_lease.health()
        body["database_connections"] = database.connections
    return body


@app.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
