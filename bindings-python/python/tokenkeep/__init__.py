"""tokenkeep: JWT verification that survives key rotation and IdP outages.

>>> verifier = tokenkeep.Verifier(issuer="https://idp.example", audience="api")
>>> claims = verifier.verify(token)               # or: await verifier.verify_async(token)
>>> claims, scopes = verifier.authenticate(request.headers.get("authorization"), ["orders:read"])

Outbound credentials kept fresh in the background:

>>> token = tokenkeep.VaultToken(role="app", jwt_file="/var/run/secrets/jwt")
>>> db = tokenkeep.VaultLease(token, path="database/creds/app")
>>> creds = db.current()                          # {"username": ..., "password": ..., ...}

Everything is a thin layer over the Rust runtime (``tokenkeep._native``):
options are the shared options spec, errors carry the runtime's codes.
Importing starts no thread; the first handle does.
"""

from __future__ import annotations

import atexit
import os

from . import _native
from ._errors import (
    REJECTION_CLASSES,
    AlgNotAllowed,
    ConfigError,
    ConfigErrorCode,
    DenialCode,
    Denied,
    CredentialErrorCode,
    CredentialUnavailable,
    Expired,
    HmacError,
    HmacErrorCode,
    HostErrorCode,
    InvalidSignature,
    IssuedInFuture,
    KeysUnavailable,
    Malformed,
    MissingClaim,
    MissingToken,
    NotYetValid,
    Rejected,
    RejectionCode,
    SubjectNotAllowed,
    TokenkeepError,
    TokenTooLarge,
    TooOld,
    UnknownKid,
    UnsupportedAlg,
    WrongAudience,
    WrongIssuer,
    WrongType,
)
from ._native import (
    FileToken,
    HmacKeyring,
    RotationIterator,
    Secret,
    VaultLease,
    VaultSecret,
    VaultToken,
    Verifier,
    metrics_snapshot,
)

__version__: str = _native.__version__

# A forked child (gunicorn --preload) restarts every handle's background task
# at once instead of on its next slow path.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_native._after_fork_in_child)
atexit.register(_native._at_exit)

__all__ = [
    "REJECTION_CLASSES",
    "AlgNotAllowed",
    "ConfigError",
    "ConfigErrorCode",
    "CredentialErrorCode",
    "CredentialUnavailable",
    "DenialCode",
    "Denied",
    "Expired",
    "FileToken",
    "HmacError",
    "HmacErrorCode",
    "HmacKeyring",
    "HostErrorCode",
    "InvalidSignature",
    "IssuedInFuture",
    "KeysUnavailable",
    "Malformed",
    "MissingClaim",
    "MissingToken",
    "NotYetValid",
    "Rejected",
    "RejectionCode",
    "RotationIterator",
    "Secret",
    "SubjectNotAllowed",
    "TokenTooLarge",
    "TokenkeepError",
    "TooOld",
    "UnknownKid",
    "UnsupportedAlg",
    "VaultLease",
    "VaultSecret",
    "VaultToken",
    "Verifier",
    "WrongAudience",
    "WrongIssuer",
    "WrongType",
    "metrics_snapshot",
]
