"""FastAPI integration: a bearer-token security dependency and a lifespan.

>>> verifier = tokenkeep.Verifier(issuer="https://idp.example", audience="authenticated")
>>> auth = JWTBearer(verifier)
>>> app = FastAPI(lifespan=lifespan(verifier))
>>> @app.get("/orders")
... async def orders(user: Principal = Security(auth, scopes=["orders:read"])): ...

The scheme appears in the OpenAPI document as HTTP bearer (Swagger UI's
Authorize button works). Each request is one ``verifier.authenticate_async``
call: the runtime parses the header, checks the scopes and gives the answer
(the same as every other tokenkeep host's), which follows RFC 6750:

- no ``Authorization: Bearer`` header: 401, ``WWW-Authenticate: Bearer error="invalid_request"``;
- a rejected token: 401, ``Bearer error="invalid_token", error_description="<code>"``;
- missing scopes: 403, ``Bearer error="insufficient_scope", scope="<required>"``
  (the dependency's scopes, then the route's);
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
    Tuple,
    Type,
    TypeVar,
    overload,
)

from fastapi import HTTPException, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, ConfigDict

from ._errors import Denied
from ._native import Verifier

__all__ = ["JWTBearer", "Principal", "lifespan"]

ClaimsT = TypeVar("ClaimsT")
ModelT = TypeVar("ModelT", bound=BaseModel)

logger = logging.getLogger("tokenkeep")


class Principal(BaseModel, Generic[ClaimsT]):
    """Who called: ``subject`` (``sub``), ``scopes`` (granted by ``scope``
    and ``scp``, as the runtime reads them) and the verified ``claims`` (a
    dict, or the ``claims=`` model)."""

    model_config = ConfigDict(frozen=True)

    subject: Optional[str]
    scopes: FrozenSet[str]
    claims: ClaimsT


class JWTBearer(SecurityBase, Generic[ClaimsT]):
    """A FastAPI security dependency authenticating the request's bearer
    token with ``verifier.authenticate_async``; returns a :class:`Principal`.

    ``scopes`` are required on every route using it; ``Security(auth,
    scopes=[...])`` adds route-specific ones. With ``claims=Model`` (a
    pydantic model) the principal's claims are validated into it; with
    ``realm="..."`` every challenge names that realm.
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
        realm: Optional[str] = None,
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
        realm: Optional[str] = None,
    ) -> None: ...

    def __init__(
        self,
        verifier: Verifier,
        *,
        scopes: Sequence[str] = (),
        claims: Optional[Type[BaseModel]] = None,
        scheme_name: Optional[str] = None,
        description: Optional[str] = None,
        realm: Optional[str] = None,
    ) -> None:
        self.verifier = verifier
        self.scopes: Tuple[str, ...] = tuple(dict.fromkeys(scopes))
        self.claims_model = claims
        self.model = HTTPBearerModel(bearerFormat="JWT", description=description)
        self.scheme_name = scheme_name or type(self).__name__
        self.realm = realm

    async def __call__(self, request: Request, security_scopes: SecurityScopes) -> Principal[ClaimsT]:
        # The dependency's scopes, then the route's, each once (FastAPI lists
        # a scope again when nested dependencies repeat it).
        required = list(dict.fromkeys((*self.scopes, *security_scopes.scopes)))
        try:
            claims, scopes = await self.verifier.authenticate_async(
                request.headers.get("authorization"), required, realm=self.realm
            )
        except Denied as denied:
            raise HTTPException(status_code=denied.status, detail=denied.code, headers=denied.headers) from None
        subject = claims.get("sub")
        typed: Any = claims if self.claims_model is None else self.claims_model.model_validate(claims)
        return Principal[Any](
            subject=subject if isinstance(subject, str) else None,
            scopes=frozenset(scopes),
            claims=typed,
        )


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

