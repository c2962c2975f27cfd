"""Not a test: code mypy --strict checks against the stubs (test_typing)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import msgspec
import pydantic

import tokenkeep
from tokenkeep.fastapi import JWTBearer, Principal


class Claims(pydantic.BaseModel):
    sub: str


class Struct(msgspec.Struct):
    sub: str


def sync(verifier: tokenkeep.Verifier, token: str) -> str:
    claims: Dict[str, Any] = verifier.verify(token)
    model: Claims = verifier.verify(token, into=Claims)
    struct: Struct = verifier.verify_cached(token, into=Struct)
    try:
        verifier.verify(token, now=1.5)
    except tokenkeep.Expired as e:
        code: str = e.code
        status: int = e.status
        print(code, status)
    except tokenkeep.Rejected as e:
        retry = e.retry_after
        print(retry)
    return str(claims["sub"]) + model.sub + struct.sub


async def asynchronous(verifier: tokenkeep.Verifier, token: str) -> bool:
    claims = await verifier.verify_async(token)
    model = await verifier.verify_async(token, into=Claims)
    async with verifier as v:
        async for generation in v.rotations():
            print(generation)
    return bool(claims) and model.sub == "x" and await verifier.ready_async(1.0)


async def bearer(verifier: tokenkeep.Verifier, header: Optional[str]) -> List[str]:
    try:
        claims, scopes = verifier.authenticate(header, ["orders:read"], realm="api")
        claims, scopes = await verifier.authenticate_async(header, ("orders:read",))
    except tokenkeep.Denied as e:
        status: int = e.status
        headers: Dict[str, str] = e.headers
        print(status, headers, e.code)
        return []
    print(claims["sub"])
    return scopes


def fastapi_types(verifier: tokenkeep.Verifier) -> None:
    plain: JWTBearer[Dict[str, Any]] = JWTBearer(verifier, scopes=["a"])
    typed: JWTBearer[Claims] = JWTBearer(verifier, claims=Claims, realm="api")
    principal: Principal[Claims] = Principal[Claims](subject="s", scopes=frozenset(), claims=Claims(sub="s"))
    print(plain, typed, principal.claims.sub)


def outbound_types(jwt_file: str) -> str:
    with tokenkeep.VaultToken("app", addr="http://127.0.0.1:8200", jwt_file=jwt_file, revoke_on_close=True) as token:
        secret: tokenkeep.Secret = token.current()
        kv = tokenkeep.VaultSecret(token, "secret", "app/config", interval=30)
        data: Dict[str, Any] = kv.current()
        lease = tokenkeep.VaultLease(token, path="database/creds/app", grace="30s")
        ring = tokenkeep.HmacKeyring(token, mount="secret", path="app/hmac", field="key")
        version: int = ring.verify(ring.sign("GET", "/", b""), "GET", "/")
        health: Dict[str, Any] = lease.health()
        try:
            lease.current()
        except tokenkeep.CredentialUnavailable as e:
            print(e.code)
        print(data, health, version, token.kind, kv.name, ring.current())
        return secret.get_secret_value()


async def outbound_async(path: str) -> None:
    async with tokenkeep.FileToken(path=path, change_poll=1) as handle:
        if await handle.ready_async(5.0):
            async for count in handle.rotations():
                print(count, handle.current().get_secret_value())
