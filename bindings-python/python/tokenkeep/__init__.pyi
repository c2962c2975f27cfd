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

from . import _native as _native
from ._errors import (
    REJECTION_CLASSES as REJECTION_CLASSES,
    AlgNotAllowed as AlgNotAllowed,
    ConfigError as ConfigError,
    ConfigErrorCode as ConfigErrorCode,
    DenialCode as DenialCode,
    Denied as Denied,
    CredentialErrorCode as CredentialErrorCode,
    CredentialUnavailable as CredentialUnavailable,
    Expired as Expired,
    HmacError as HmacError,
    HmacErrorCode as HmacErrorCode,
    HostErrorCode as HostErrorCode,
    InvalidSignature as InvalidSignature,
    IssuedInFuture as IssuedInFuture,
    KeysUnavailable as KeysUnavailable,
    Malformed as Malformed,
    MissingClaim as MissingClaim,
    MissingToken as MissingToken,
    NotYetValid as NotYetValid,
    Rejected as Rejected,
    RejectionCode as RejectionCode,
    SubjectNotAllowed as SubjectNotAllowed,
    TokenkeepError as TokenkeepError,
    TokenTooLarge as TokenTooLarge,
    TooOld as TooOld,
    UnknownKid as UnknownKid,
    UnsupportedAlg as UnsupportedAlg,
    WrongAudience as WrongAudience,
    WrongIssuer as WrongIssuer,
    WrongType as WrongType,
)
from ._native import FileToken as FileToken
from ._native import HmacKeyring as HmacKeyring
from ._native import RotationIterator as RotationIterator
from ._native import Secret as Secret
from ._native import VaultLease as VaultLease
from ._native import VaultSecret as VaultSecret
from ._native import VaultToken as VaultToken
from ._native import Verifier as Verifier
from ._native import metrics_snapshot as metrics_snapshot

__version__: str

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
