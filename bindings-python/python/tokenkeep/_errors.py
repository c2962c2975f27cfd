"""Exceptions, one class per code.

The codes are the runtime's (``tests/vectors/codes.json`` lists them; a test
checks these classes and literals against it). The native module picks the
class by code and passes the message, the code, and for rejections the HTTP
status and ``Retry-After`` the runtime gave it.
"""

from __future__ import annotations

from typing import Dict, Literal, Optional, Type

RejectionCode = Literal[
    "missing_token",
    "malformed",
    "unsupported_alg",
    "alg_not_allowed",
    "unknown_kid",
    "invalid_signature",
    "expired",
    "not_yet_valid",
    "issued_in_future",
    "too_old",
    "wrong_issuer",
    "wrong_audience",
    "missing_claim",
    "subject_not_allowed",
    "wrong_type",
    "keys_unavailable",
    "token_too_large",
]

# The ``code`` of a ``Denied`` that is not a rejection code: the token
# verified but lacks a required scope (403).
DenialCode = Literal["insufficient_scope"]

ConfigErrorCode = Literal[
    "syntax",
    "unknown_field",
    "missing_field",
    "invalid_type",
    "invalid_value",
    "invalid_duration",
    "out_of_range",
    "empty_value",
    "conflict",
    "invalid_url",
    "insecure_url",
    "unknown_algorithm",
    "invalid_jwks",
    "invalid_secret",
    "invalid_vault_path",
    "missing_address",
    "file_unreadable",
    "invalid_file",
]

HostErrorCode = Literal["closed", "timeout", "internal_error"]

CredentialErrorCode = Literal["not_yet_obtained", "expired", "fatal", "closed"]

HmacErrorCode = Literal[
    "no_key",
    "secret_too_short",
    "stale_version",
    "unknown_key_version",
    "key_retired",
    "timestamp_too_old",
    "timestamp_in_future",
    "bad_signature",
    "malformed_signature",
    "invalid_input",
]


class TokenkeepError(Exception):
    """Every error tokenkeep raises; ``code`` is a stable snake_case code."""

    code: str = "internal_error"

    def __init__(self, message: str, code: Optional[str] = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ConfigError(TokenkeepError, ValueError):
    """Options that are not acceptable; the message starts with the field path
    (``issuers[1].audience: must not be empty``), also in ``path``."""

    code: str = "invalid_value"
    path: str = ""

    def __init__(self, message: str, code: Optional[str] = None, path: str = "") -> None:
        super().__init__(message, code)
        self.path = path


class CredentialUnavailable(TokenkeepError):
    """An outbound handle (``VaultToken``, ``VaultSecret``, ...) has no value
    to give: ``code`` is ``not_yet_obtained``, ``expired`` (never a stale
    value), ``fatal`` (a permanent error such as a bad role) or ``closed``."""

    code: str = "not_yet_obtained"


class HmacError(TokenkeepError):
    """``HmacKeyring.sign`` or ``verify`` failed; ``code`` is one of the
    ``hmac`` codes (``no_key``, ``bad_signature``, ``timestamp_too_old``, ...)."""

    code: str = "bad_signature"


class Rejected(TokenkeepError):
    """A token that did not verify. ``status`` is the HTTP status to answer
    with (503 for ``keys_unavailable``: an IdP outage is not the caller's
    fault, 401 otherwise) and ``retry_after`` the seconds for ``Retry-After``
    when there is one."""

    code: str = "malformed"
    status: int = 401
    retry_after: Optional[int] = None

    def __init__(
        self,
        message: str,
        code: Optional[str] = None,
        status: int = 401,
        retry_after: Optional[int] = None,
    ) -> None:
        super().__init__(message, code)
        self.status = status
        self.retry_after = retry_after


class MissingToken(Rejected):
    code = "missing_token"


class Malformed(Rejected):
    code = "malformed"


class UnsupportedAlg(Rejected):
    code = "unsupported_alg"


class AlgNotAllowed(Rejected):
    code = "alg_not_allowed"


class UnknownKid(Rejected):
    code = "unknown_kid"


class InvalidSignature(Rejected):
    code = "invalid_signature"


class Expired(Rejected):
    code = "expired"


class NotYetValid(Rejected):
    code = "not_yet_valid"


class IssuedInFuture(Rejected):
    code = "issued_in_future"


class TooOld(Rejected):
    code = "too_old"


class WrongIssuer(Rejected):
    code = "wrong_issuer"


class WrongAudience(Rejected):
    code = "wrong_audience"


class MissingClaim(Rejected):
    code = "missing_claim"


class SubjectNotAllowed(Rejected):
    code = "subject_not_allowed"


class WrongType(Rejected):
    code = "wrong_type"


class KeysUnavailable(Rejected):
    code = "keys_unavailable"


class TokenTooLarge(Rejected):
    code = "token_too_large"


class Denied(TokenkeepError):
    """A request ``Verifier.authenticate`` refused, with the answer to send:
    ``status`` (401 for a missing or rejected token, 403 for missing scopes,
    503 when no key is usable), ``code`` (a ``RejectionCode``, or a
    ``DenialCode``: ``insufficient_scope``) and ``headers`` (``WWW-Authenticate`` for 401 and
    403, ``Retry-After`` for 503). In FastAPI:
    ``raise HTTPException(e.status, detail=e.code, headers=e.headers)``."""

    code: str = "missing_token"
    status: int = 401
    headers: Dict[str, str]

    def __init__(
        self,
        message: str,
        code: Optional[str] = None,
        status: int = 401,
        headers: Optional[Dict[str, str]] = None,
    ) -> None:
        super().__init__(message, code)
        self.status = status
        self.headers = dict(headers or {})


REJECTION_CLASSES: Dict[str, Type[Rejected]] = {
    cls.code: cls
    for cls in (
        MissingToken,
        Malformed,
        UnsupportedAlg,
        AlgNotAllowed,
        UnknownKid,
        InvalidSignature,
        Expired,
        NotYetValid,
        IssuedInFuture,
        TooOld,
        WrongIssuer,
        WrongAudience,
        MissingClaim,
        SubjectNotAllowed,
        WrongType,
        KeysUnavailable,
        TokenTooLarge,
    )
}
