"""Runtime events as records of the ``tokenkeep`` logger.

Each record's ``extra`` carries ``event`` (the event's stable name, e.g.
``jwks_refreshed``), ``source_kind``, ``source`` and every field of the event
(``key_count``, ``reason``, ``kid``, ``issuer``, ``error``, ...), so a JSON
formatter (python-json-logger) writes them as top-level keys and the
runbook's ``jq 'select(.event == "jwt_validation_failed") | .reason'`` works.
A field named like a ``LogRecord`` attribute (``name``, ``message``, ...)
gets a trailing underscore instead of clobbering it.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, FrozenSet

logger = logging.getLogger("tokenkeep")

_LEVELS: Dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}

_RESERVED: FrozenSet[str] = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None))
) | {"message", "asctime"}


def emit(
    name: str,
    level: str,
    source_kind: str,
    source: str,
    message: str,
    fields: Dict[str, Any],
) -> None:
    """Called by the native module's callback thread for every event."""
    number = _LEVELS.get(level, logging.INFO)
    if not logger.isEnabledFor(number):
        return
    extra: Dict[str, Any] = {"event": name, "source_kind": source_kind, "source": source}
    for key, value in fields.items():
        extra[key + "_" if key in _RESERVED else key] = value
    logger.log(number, "%s: %s", name, message, extra=extra)
