"""The stubs match the runtime (mypy stubtest), and the examples pass
`mypy --strict` against them."""

from __future__ import annotations

import pathlib
import subprocess
import sys

PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=PACKAGE_DIR, capture_output=True, text=True)


def test_stubtest() -> None:
    result = run("mypy.stubtest", "tokenkeep", "--allowlist", "tests/stubtest-allowlist.txt")
    assert result.returncode == 0, result.stdout + result.stderr


def test_examples_pass_mypy_strict() -> None:
    result = run("mypy", "--strict", "--no-incremental", "examples/", "tests/typed_usage.py")
    assert result.returncode == 0, result.stdout + result.stderr
