"""The exception classes and literal types against tests/vectors/codes.json
(generated from the runtime's typed code lists)."""

from __future__ import annotations

import json
import re
import typing

from conftest import VECTOR_DIR

import tokenkeep
from tokenkeep import _native

CONCERNS = json.loads((VECTOR_DIR / "codes.json").read_text())["concerns"]


def codes(concern: str) -> typing.List[str]:
    result: typing.List[str] = CONCERNS[concern]["codes"]
    return result


def camel(code: str) -> str:
    return "".join(part.capitalize() for part in code.split("_"))


def test_one_rejected_subclass_per_rejection_code() -> None:
    assert list(tokenkeep.REJECTION_CLASSES) == codes("rejection")
    for code in codes("rejection"):
        cls = getattr(tokenkeep, camel(code))
        assert cls is tokenkeep.REJECTION_CLASSES[code]
        assert issubclass(cls, tokenkeep.Rejected) and issubclass(cls, tokenkeep.TokenkeepError)
        assert cls.code == code
    # Nothing else in the package is a Rejected subclass.
    rejected = {
        name
        for name, value in vars(tokenkeep).items()
        if isinstance(value, type) and issubclass(value, tokenkeep.Rejected) and value is not tokenkeep.Rejected
    }
    assert rejected == {camel(c) for c in codes("rejection")}


def test_literals_equal_the_code_lists() -> None:
    assert list(typing.get_args(tokenkeep.RejectionCode)) == codes("rejection")
    assert list(typing.get_args(tokenkeep.ConfigErrorCode)) == codes("spec")
    assert list(typing.get_args(tokenkeep.HostErrorCode)) == codes("host")
    assert list(typing.get_args(tokenkeep.DenialCode)) == codes("denial")


def test_the_native_module_agrees() -> None:
    assert list(_native.REJECTION_CODES) == codes("rejection")
    assert list(_native.EVENT_NAMES) == codes("event")
    assert [name for name, *_ in _native.metrics_snapshot()] == codes("metric")


def test_codes_are_snake_case() -> None:
    for concern in ("rejection", "spec", "host", "denial"):
        for code in codes(concern):
            assert re.fullmatch(r"[a-z]+(_[a-z0-9]+)*", code), code


def test_config_error_is_a_value_error() -> None:
    assert issubclass(tokenkeep.ConfigError, ValueError)
    assert issubclass(tokenkeep.ConfigError, tokenkeep.TokenkeepError)
