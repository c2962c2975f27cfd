"""Shared fixtures: the real dev issuer (`tokenkeep dev-issuer`), the shared
vectors, and the record of every secret the suite issued, searched for in
all of the suite's output when the session ends."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, Iterator, List, Optional

import httpx
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
VECTOR_DIR = REPO / "tests" / "vectors"


def tokenkeep_bin() -> str:
    return os.environ.get("TOKENKEEP_BIN", str(REPO / "target" / "debug" / "tokenkeep"))


# ---------------------------------------------------------------------------
# Everything the suite prints or logs, and every secret it issued.
# ---------------------------------------------------------------------------

OUTPUT_DIR = pathlib.Path(os.environ.get("TOKENKEEP_PY_OUTPUT", tempfile.mkdtemp(prefix="tokenkeep-py-output-")))
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
SECRETS: List[str] = []
_secrets_lock = threading.Lock()


def issued(secret: str) -> str:
    """Remembers a secret (a token, a password, a key) the suite handed out;
    no output of the suite may contain it. Returns it.

    Strings shorter than 8 characters are not searched: none is a secret,
    and a malformed-token vector such as ``..`` is found in any log line
    holding a path (the attack vectors' kid ``../../../dev/null``)."""
    if len(secret) < 8:
        return secret
    with _secrets_lock:
        SECRETS.append(secret)
        # A token's signature is as secret as the token.
        if secret.count(".") == 2:
            SECRETS.append(secret.rsplit(".", 1)[1])
    return secret


def free_port() -> int:
    """A loopback port free right now (bound, then released): for a server to
    listen on or, with nobody listening, a key endpoint that refuses every
    connection (an IdP outage from the start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def output_file(name: str) -> pathlib.Path:
    """A file under the suite's output directory (subprocess logs and the like)."""
    return OUTPUT_DIR / name


def note(*things: Any) -> None:
    """Writes str() and repr() of things (exceptions, handles) to the output
    the secret search reads."""
    with open(OUTPUT_DIR / "notes.log", "a", encoding="utf-8") as f:
        for thing in things:
            f.write(f"{thing!s}\n{thing!r}\n")


class _JsonEverything(logging.Handler):
    """Every record of every logger, with all its attributes (extra included)."""

    def __init__(self, path: pathlib.Path) -> None:
        super().__init__(logging.DEBUG)
        self._file = open(path, "a", encoding="utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        fields = {k: str(v) for k, v in vars(record).items()}
        fields["message"] = record.getMessage()
        self._file.write(json.dumps(fields) + "\n")
        self._file.flush()


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.addHandler(_JsonEverything(OUTPUT_DIR / "all-records.jsonl"))
    root.setLevel(logging.DEBUG)
    logging.getLogger("httpcore").setLevel(logging.INFO)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # What pytest captured (stdout, stderr, log) and any failure's traceback.
    with open(OUTPUT_DIR / "pytest-reports.log", "a", encoding="utf-8") as f:
        for title, content in report.sections:
            f.write(f"== {report.nodeid} {title}\n{content}\n")
        if report.longrepr is not None:
            f.write(f"== {report.nodeid} longrepr\n{report.longrepr}\n")


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    # The secret search reads what every other test wrote: it runs last.
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


def find_secrets(directory: pathlib.Path, secrets: List[str]) -> List[str]:
    """Every (file, secret prefix) where a secret appears in a file under directory."""
    found = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for secret in secrets:
            if secret and secret in text:
                found.append(f"{path.name}: {secret[:6]}...")
    return found


# ---------------------------------------------------------------------------
# The dev issuer
# ---------------------------------------------------------------------------


class DevIssuer:
    """`tokenkeep dev-issuer`, a real OIDC/JWKS issuer on 127.0.0.1."""

    def __init__(self, *args: str, name: str = "dev-issuer") -> None:
        log = open(output_file(f"{name}-{os.getpid()}-{time.monotonic_ns()}.log"), "w")
        self.process = subprocess.Popen(
            [tokenkeep_bin(), "--json", "dev-issuer", *args],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"dev issuer did not start (exit {self.process.wait()})")
        info = json.loads(line)
        self.url: str = info["issuer"]
        self.jwks_url: str = info["jwks_uri"]
        self.token_url: str = info["token_endpoint"]
        self.http = httpx.Client(timeout=10)

    def mint(self, claims: Optional[Dict[str, Any]] = None, alg: str = "ES256", ttl: int = 600) -> str:
        body = {"claims": {"iss": self.url, "aud": "api", "sub": "alice", **(claims or {})}, "alg": alg, "ttl": ttl}
        response = self.http.post(self.token_url, json=body)
        response.raise_for_status()
        return issued(response.json()["token"])

    def rotate(self) -> None:
        self.http.post(self.url + "/rotate").raise_for_status()

    def outage(self, seconds: float, mode: str = "503") -> None:
        self.http.post(self.url + "/outage", json={"seconds": seconds, "mode": mode}).raise_for_status()

    def stats(self) -> Dict[str, Any]:
        result: Dict[str, Any] = self.http.get(self.url + "/stats").json()
        return result

    def jwks(self) -> Dict[str, Any]:
        result: Dict[str, Any] = self.http.get(self.jwks_url).json()
        return result

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def issuer() -> Iterator[DevIssuer]:
    """One issuer for tests that neither rotate nor break it."""
    idp = DevIssuer("--alg", "ES256", "--alg", "RS256", "--alg", "EdDSA")
    yield idp
    idp.stop()


@pytest.fixture
def own_issuer() -> Iterator[DevIssuer]:
    """An issuer of the test's own, to rotate or take down."""
    idp = DevIssuer("--alg", "ES256")
    yield idp
    idp.stop()


# ---------------------------------------------------------------------------
# The dev stack: issuer + OpenBao (+ PostgreSQL), the project's one launcher
# ---------------------------------------------------------------------------


class DevStack:
    """`tokenkeep dev-stack`: a dev issuer, a real OpenBao whose JWT auth
    trusts it (role, KV v2 at `secret`) and, with postgres, a real PostgreSQL
    behind OpenBao's database engine. Stops when this process closes its stdin."""

    def __init__(self, *args: str, name: str = "dev-stack") -> None:
        log = open(output_file(f"{name}-{os.getpid()}-{time.monotonic_ns()}.log"), "w")
        self.process = subprocess.Popen(
            [tokenkeep_bin(), "--json", "dev-stack", "--stop-on-stdin-eof", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"dev stack did not start (exit {self.process.wait()}): see {log.name}")
        info = json.loads(line)
        self.issuer: Dict[str, Any] = info["issuer"]
        self.openbao: Dict[str, Any] = info["openbao"]
        self.postgres: Optional[Dict[str, Any]] = info.get("postgres")
        issued(self.openbao["root_token"])
        if self.postgres:
            issued(self.postgres["admin_password"])
        self.http = httpx.Client(timeout=10)

    def login_jwt(self, ttl: int = 600) -> str:
        """A JWT the OpenBao role accepts (its subject and audience)."""
        claims = {"iss": self.issuer["url"], "sub": self.openbao["jwt_subject"], "aud": self.openbao["jwt_audience"]}
        response = self.http.post(self.issuer["token_url"], json={"claims": claims, "ttl": ttl})
        response.raise_for_status()
        return issued(response.json()["token"])

    def bao(self, method: str, path: str, token: Optional[str] = None, **kwargs: Any) -> httpx.Response:
        """A request to OpenBao's HTTP API (root token unless given)."""
        headers = {"X-Vault-Token": token or self.openbao["root_token"]}
        return self.http.request(method, f"{self.openbao['addr']}/v1/{path}", headers=headers, **kwargs)

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def load_vectors() -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    for name in ("valid", "rejections", "attacks", "spiffe", "keysets"):
        doc = json.loads((VECTOR_DIR / f"{name}.json").read_text())
        for vector in doc["vectors"] if isinstance(doc, dict) else doc:
            vector.setdefault("file", name)
            out.append(vector)
    return out


def python() -> str:
    return sys.executable
