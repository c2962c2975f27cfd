"""FastAPI integration: a bearer-token security dependency and a lifespan.

>>> verifier = tokenkeep.Verifier(issuer="https://idp.example", audience="authenticated")
>>> auth = JWTBearer(verifier)
>>> app = FastAPI(lifespan=lifespan(verifier))
>>> @app.get("/orders")
... async def orders(user: Principal = Security(auth, scopes=["orders:read"])): ...

The scheme appears in the OpenAPI document as HTTP bearer (Swagger UI's
Authorize button works). Answers follow RFC 6750:

- no ``Authorization: Bearer`` header: 401, ``WWW-Authenticate: Bearer error="invalid_request"``;
- a rejected token: 401, ``Bearer error="invalid_token", error_description="<code>"``;
- missing scopes: 403, ``Bearer error="insufficient_scope", scope="<required>"``;
- no usable keys (``keys_unavailable``, an IdP outage): the status and
  ``Retry-After`` the runtime gives (503), never a 401.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Dict,
    FrozenSet,
    Generic,
    Optional,
    Sequence,
    Type,
    TypeVar,
    overload,
)

from fastapi import HTTPException, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, ConfigDict

from ._errors import Rejected
from ._native import Verifier

__all__ = ["JWTBearer", "Principal", "bearer_token", "lifespan", "scopes_of"]

ClaimsT = TypeVar("ClaimsT")
ModelT = TypeVar("ModelT", bound=BaseModel)

logger = logging.getLogger("tokenkeep")


class Principal(BaseModel, Generic[ClaimsT]):
    """Who called: ``subject`` (``sub``), ``scopes`` (from ``scope`` or
    ``scp``) and the verified ``claims`` (a dict, or the ``claims=`` model)."""

    model_config = ConfigDict(frozen=True)

    subject: Optional[str]
    scopes: FrozenSet[str]
    claims: ClaimsT


def scopes_of(claims: Dict[str, Any]) -> FrozenSet[str]:
    """Granted scopes: ``scope`` (RFC 8693/9068, space-separated) and ``scp``
    (a list or a string, as Azure AD and Okta write it)."""
    granted = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            granted.update(value.split())
        elif isinstance(value, (list, tuple)):
            granted.update(v for v in value if isinstance(v, str))
    return frozenset(granted)


def bearer_token(authorization: Optional[str]) -> Optional[str]:
    """The token of an ``Authorization: Bearer <token>`` header (scheme
    case-insensitive, RFC 6750 section 2.1), else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def _challenge(error: str, **params: str) -> str:
    extra = "".join(f', {k}="{v}"' for k, v in params.items())
    return f'Bearer error="{error}"{extra}'


class JWTBearer(SecurityBase, Generic[ClaimsT]):
    """A FastAPI security dependency verifying the request's bearer token
    with ``verifier.verify_async``; returns a :class:`Principal`.

    ``scopes`` are required on every route using it; ``Security(auth,
    scopes=[...])`` adds route-specific ones. With ``claims=Model`` (a
    pydantic model) the principal's claims are validated into it.
    """

    @overload
    def __init__(
        self: JWTBearer[Dict[str, Any]],
        verifier: Verifier,
        *,
        scopes: Sequence[str] = (),
        claims: None = None,
        scheme_name: Optional[str] = None,
        description: Optional[str] = None,
    ) -> None: ...

    @overload
    def __init__(
        self: JWTBearer[ModelT],
        verifier: Verifier,
        *,
        scopes: Sequence[str] = (),
        claims: Type[ModelT],
        scheme_name: Optional[str] = None,
        description: Optional[str] = None,
    ) -> None: ...

    def __init__(
        self,
        verifier: Verifier,
        *,
        scopes: Sequence[str] = (),
        claims: Optional[Type[BaseModel]] = None,
        scheme_name: Optional[str] = None,
        description: Optional[str] = None,
    ) -> None:
        self.verifier = verifier
        self.scopes: FrozenSet[str] = frozenset(scopes)
        self.claims_model = claims
        self.model = HTTPBearerModel(bearerFormat="JWT", description=description)
        self.scheme_name = scheme_name or type(self).__name__

    async def __call__(self, request: Request, security_scopes: SecurityScopes) -> Principal[ClaimsT]:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise HTTPException(
                status_code=401,
                detail="missing_token",
                headers={"WWW-Authenticate": _challenge("invalid_request")},
            )
        try:
            claims: Dict[str, Any] = await self.verifier.verify_async(token)
        except Rejected as rejected:
            raise _rejection_response(rejected) from None
        granted = scopes_of(claims)
        required = self.scopes | frozenset(security_scopes.scopes)
        if not required <= granted:
            raise HTTPException(
                status_code=403,
                detail="insufficient_scope",
                headers={"WWW-Authenticate": _challenge("insufficient_scope", scope=" ".join(sorted(required)))},
            )
        subject = claims.get("sub")
        typed: Any = claims if self.claims_model is None else self.claims_model.model_validate(claims)
        return Principal[Any](
            subject=subject if isinstance(subject, str) else None,
            scopes=granted,
            claims=typed,
        )


def _rejection_response(rejected: Rejected) -> HTTPException:
    headers: Dict[str, str] = {}
    if rejected.retry_after is not None:
        headers["Retry-After"] = str(rejected.retry_after)
    if rejected.status == 401:
        headers["WWW-Authenticate"] = (
            _challenge("invalid_request")
            if rejected.code == "missing_token"
            else _challenge("invalid_token", error_description=rejected.code)
        )
    return HTTPException(status_code=rejected.status, detail=rejected.code, headers=headers)


def lifespan(
    *handles: Any,
    timeout: float = 10.0,
) -> Callable[[Any], Any]:
    """A FastAPI ``lifespan``: waits up to ``timeout`` seconds for every
    handle's ``ready_async()`` at startup (a handle not ready by then is
    logged and the app starts anyway: requests get 503 until keys arrive,
    not a crash loop), and closes them all at shutdown."""

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        for handle in handles:
            if not await handle.ready_async(timeout):
                logger.warning("tokenkeep: %r not ready after %ss; starting anyway", handle, timeout)
        try:
            yield
        finally:
            for handle in reversed(handles):
                handle.close()

    return run

