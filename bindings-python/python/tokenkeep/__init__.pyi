"""tokenkeep: JWT verification that survives key rotation and IdP outages.

>>> verifier = tokenkeep.Verifier(issuer="https://idp.example", audience="api")
>>> claims = verifier.verify(token)               # or: await verifier.verify_async(token)

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
    Expired as Expired,
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
from ._native import RotationIterator as RotationIterator
from ._native import Verifier as Verifier
from ._native import metrics_snapshot as metrics_snapshot

__version__: str

__all__ = [
    "REJECTION_CLASSES",
    "AlgNotAllowed",
    "ConfigError",
    "ConfigErrorCode",
    "Expired",
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
    "SubjectNotAllowed",
    "TokenTooLarge",
    "TokenkeepError",
    "TooOld",
    "UnknownKid",
    "UnsupportedAlg",
    "Verifier",
    "WrongAudience",
    "WrongIssuer",
    "WrongType",
    "metrics_snapshot",
]
