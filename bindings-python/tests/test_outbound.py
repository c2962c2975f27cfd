"""The outbound half: VaultToken, VaultSecret, VaultLease, FileToken,
HmacKeyring and Secret, against a real OpenBao and PostgreSQL started by
`tokenkeep dev-stack --postgres` (short TTLs, so renewals, re-logins and
lease replacements happen within a test)."""

from __future__ import annotations

import asyncio
import json
import logging
import pathlib
import threading
import time
import typing
from typing import Any, Callable, Dict, Iterator, List

import pytest
from conftest import VECTOR_DIR, DevStack, issued, note

import tokenkeep

CONCERNS = json.loads((VECTOR_DIR / "codes.json").read_text())["concerns"]

try:
    import psycopg
except ImportError:  # pragma: no cover - psycopg is in tests/requirements.txt
    psycopg = None


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    s = DevStack("--postgres", "--token-ttl", "6s", "--token-max-ttl", "15s", "--lease-ttl", "5s", "--lease-max-ttl", "12s")
    yield s
    s.stop()


@pytest.fixture
def jwt_file(stack: DevStack, tmp_path: pathlib.Path) -> str:
    path = tmp_path / "jwt"
    path.write_text(stack.login_jwt())
    return str(path)


def vault_token(stack: DevStack, jwt_file: str, **options: Any) -> tokenkeep.VaultToken:
    return tokenkeep.VaultToken(
        role=stack.openbao["role"],
        addr=stack.openbao["addr"],
        auth_mount=stack.openbao["auth_mount"],
        jwt_file=jwt_file,
        **options,
    )


class Events(logging.Handler):
    """The `tokenkeep` logger's records: (event, source_kind)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: List[Dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(dict(vars(record)))

    def names(self, kind: str) -> List[str]:
        return [r.get("event", "") for r in self.seen if r.get("source_kind") == kind]


@pytest.fixture
def events() -> Iterator[Events]:
    handler = Events()
    logger = logging.getLogger("tokenkeep")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds}s: {what}")


def no_secret_shown(handle: object, *secrets: str) -> None:
    """repr/str/health of a handle and str/repr of values never hold a secret;
    also written to the output the final secret search reads."""
    note(handle)
    shown = repr(handle) + str(handle) + f"{handle}"
    if hasattr(handle, "health"):
        shown += repr(handle.health())
    for secret in secrets:
        issued(secret)
        assert secret not in shown


def put_kv(stack: DevStack, path: str, data: Dict[str, str]) -> int:
    response = stack.bao("POST", f"{stack.openbao['kv_mount']}/data/{path}", json={"data": data})
    response.raise_for_status()
    version: int = response.json()["data"]["version"]
    return version


# ---------------------------------------------------------------------------
# Without a server
# ---------------------------------------------------------------------------


def test_secret_is_redacted() -> None:
    s = tokenkeep.Secret(issued("hunter2-very-secret"))
    note(s, [s], {"k": s})
    assert repr(s) == "Secret('**********')"
    assert str(s) == "**********"
    assert f"{s}" == "**********"
    assert s.get_secret_value() == "hunter2-very-secret"
    assert s == tokenkeep.Secret("hunter2-very-secret") and s != tokenkeep.Secret("other")
    assert len(s) == len("hunter2-very-secret")
    assert "hunter2" not in repr([s, {"k": s}])


def test_code_literals_equal_the_code_lists() -> None:
    assert list(typing.get_args(tokenkeep.CredentialErrorCode)) == CONCERNS["credential_error"]["codes"]
    assert list(typing.get_args(tokenkeep.HmacErrorCode)) == CONCERNS["hmac"]["codes"]
    assert issubclass(tokenkeep.CredentialUnavailable, tokenkeep.TokenkeepError)
    assert issubclass(tokenkeep.HmacError, tokenkeep.TokenkeepError)


def test_bad_options_raise_config_error_naming_the_field(tmp_path: pathlib.Path) -> None:
    addr = "http://127.0.0.1:9"
    with pytest.raises(tokenkeep.ConfigError) as e:
        tokenkeep.VaultToken(addr=addr, jwt_file="/nonexistent")
    assert e.value.path == "role" and e.value.code == "missing_field" and str(e.value).startswith("role")
    with pytest.raises(tokenkeep.ConfigError) as e:
        tokenkeep.VaultToken(role="app", addr=addr, jwt_file="/nonexistent", max_backoff="forever")
    assert e.value.path == "max_backoff" and str(e.value).startswith("max_backoff")
    with pytest.raises(tokenkeep.ConfigError) as e:
        tokenkeep.VaultToken(role="app", addr=addr, jwt_file="/nonexistent", bogus=1)
    assert e.value.code == "unknown_field"
    with tokenkeep.VaultToken(role="app", addr=addr, jwt_file="/nonexistent") as token:
        with pytest.raises(tokenkeep.ConfigError) as e:
            tokenkeep.VaultSecret(token, mount="secret", path="app/db", interval="10ms")
        assert e.value.path == "interval" and e.value.code == "out_of_range"
        with pytest.raises(tokenkeep.ConfigError) as e:
            tokenkeep.VaultLease(token, path="../x")
        assert e.value.path == "path"
    with pytest.raises(tokenkeep.ConfigError) as e:
        tokenkeep.FileToken()
    assert "path" in str(e.value)
    with pytest.raises(tokenkeep.ConfigError):
        tokenkeep.HmacKeyring()


def test_no_value_yet_then_closed() -> None:
    # Nothing listens on port 9: the token is never obtained.
    token = tokenkeep.VaultToken(role="app", addr="http://127.0.0.1:9", jwt_file="/nonexistent")
    assert token.kind == "vault_token" and token.name == "app@jwt"
    with pytest.raises(tokenkeep.CredentialUnavailable) as e:
        token.current()
    assert e.value.code == "not_yet_obtained"
    assert token.ready(0.2) is False
    health = token.health()
    assert health["state"] == "empty" and health["kind"] == "vault_token" and health["name"] == "app@jwt"
    assert "closed" not in repr(token)
    token.close()
    assert token.closed and "closed" in repr(token)
    with pytest.raises(tokenkeep.CredentialUnavailable) as e:
        token.current()
    assert e.value.code == "closed"
    assert token.refresh() is False


# ---------------------------------------------------------------------------
# Files (no server)
# ---------------------------------------------------------------------------


def test_file_token_follows_the_file(stack: DevStack, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "token"
    first = stack.login_jwt()
    path.write_text(first)
    with tokenkeep.FileToken(path=str(path), change_poll=1) as handle:
        assert handle.kind == "file_token"
        assert handle.ready(10)
        value = handle.current()
        assert isinstance(value, tokenkeep.Secret) and value.get_secret_value() == first
        seen: List[int] = []
        handle.on_rotation(seen.append)
        second = stack.login_jwt(ttl=900)
        path.write_text(second)
        wait_until(lambda: handle.current().get_secret_value() == second, 15, "the new token file is read")
        wait_until(lambda: bool(seen), 5, "on_rotation called")
        no_secret_shown(handle, first, second)
        no_secret_shown(handle.current(), second)


def test_hmac_keyring_on_a_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "hmac"
    path.write_text(issued("0123456789abcdef-first-secret"))
    with tokenkeep.HmacKeyring(file=str(path), change_poll=1) as ring:
        assert ring.kind == "hmac_keyring"
        assert ring.ready(10)
        assert ring.current() == 1
        signature = ring.sign("POST", "/hook", b"body")
        assert ring.verify(signature, "POST", "/hook", b"body") == 1
        with pytest.raises(tokenkeep.HmacError) as e:
            ring.verify(signature, "POST", "/hook", b"tampered")
        assert e.value.code == "bad_signature"
        with pytest.raises(tokenkeep.HmacError) as e:
            ring.verify("garbage", "POST", "/hook", b"body")
        assert e.value.code == "malformed_signature"
        path.write_text(issued("0123456789abcdef-second-secret"))
        wait_until(lambda: ring.current() == 2, 15, "the new secret is read")
        # The previous secret still verifies within its grace window.
        assert ring.verify(signature, "POST", "/hook", b"body") == 1
        no_secret_shown(ring, "0123456789abcdef-first-secret", "0123456789abcdef-second-secret")


# ---------------------------------------------------------------------------
# OpenBao
# ---------------------------------------------------------------------------


def test_vault_token_logs_in_renews_and_logs_in_again(stack: DevStack, jwt_file: str, events: Events) -> None:
    token = vault_token(stack, jwt_file)
    try:
        assert token.kind == "vault_token" and token.name == f"{stack.openbao['role']}@{stack.openbao['auth_mount']}"
        assert token.ready(30), token.health()
        first = token.current()
        assert isinstance(first, tokenkeep.Secret)
        secret = issued(first.get_secret_value())
        lookup = stack.bao("GET", "auth/token/lookup-self", token=secret)
        assert lookup.status_code == 200, lookup.text
        health = token.health()
        assert health["state"] in ("fresh", "refreshing") and health["expires_in_seconds"] is not None
        rotated: List[int] = []
        token.on_rotation(rotated.append)
        # token_ttl 6 s: renewed near 4 s; token_max_ttl 15 s: a new login then.
        wait_until(lambda: "credential_renewed" in events.names("vault_token"), 20, "a renewal")
        wait_until(lambda: bool(rotated), 30, "a new login (rotation) at token_max_ttl")
        second = token.current().get_secret_value()
        issued(second)
        assert second != secret
        assert stack.bao("GET", "auth/token/lookup-self", token=second).status_code == 200
        no_secret_shown(token, secret, second)
        for record in events.seen:
            assert secret not in json.dumps(record, default=str)
    finally:
        token.close()


def test_close_revokes_when_asked(stack: DevStack, jwt_file: str) -> None:
    kept = vault_token(stack, jwt_file)
    revoked = vault_token(stack, jwt_file, revoke_on_close=True)
    assert kept.ready(30) and revoked.ready(30)
    kept_secret = issued(kept.current().get_secret_value())
    revoked_secret = issued(revoked.current().get_secret_value())
    kept.close()
    revoked.close()
    assert revoked.closed
    with pytest.raises(tokenkeep.CredentialUnavailable) as e:
        revoked.current()
    assert e.value.code == "closed"
    assert stack.bao("GET", "auth/token/lookup-self", token=revoked_secret).status_code == 403
    assert stack.bao("GET", "auth/token/lookup-self", token=kept_secret).status_code == 200


def test_kv_secret_is_read_and_a_rewrite_followed(stack: DevStack, jwt_file: str) -> None:
    v1 = put_kv(stack, "app/config", {"password": issued("kv-password-one"), "user": "app"})

    async def main() -> None:
        async with vault_token(stack, jwt_file) as token:
            async with tokenkeep.VaultSecret(token, mount=stack.openbao["kv_mount"], path="app/config", interval=1) as s:
                assert s.kind == "vault_secret" and s.name == "secret/app/config"
                assert await s.ready_async(30), s.health()
                assert s.current() == {"password": "kv-password-one", "user": "app"}
                assert s.health()["version"] == v1
                rotations = s.rotations()
                v2 = put_kv(stack, "app/config", {"password": issued("kv-password-two"), "user": "app"})
                count = await asyncio.wait_for(rotations.__anext__(), 20)
                assert count >= 1
                assert s.current()["password"] == "kv-password-two"
                assert s.health()["version"] == v2
                no_secret_shown(s, "kv-password-one", "kv-password-two")
            assert s.closed
            # The iterator ends once its handle is closed.
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(s.rotations().__anext__(), 5)
            with pytest.raises(tokenkeep.CredentialUnavailable) as e:
                s.current()
            assert e.value.code == "closed"
        assert token.closed

    asyncio.run(main())


def test_database_lease_gives_credentials_that_log_in(stack: DevStack, jwt_file: str) -> None:
    pg = stack.postgres
    assert pg is not None
    with vault_token(stack, jwt_file) as token:
        lease = tokenkeep.VaultLease(token, path=pg["lease_path"], revoke_on_close=True)
        assert lease.kind == "vault_lease" and lease.name == pg["lease_path"]
        assert lease.ready(30), lease.health()
        data = lease.current()
        assert isinstance(data, dict)
        assert set(data) >= {"username", "password", "lease_id", "lease_duration", "renewable"}
        assert isinstance(data["lease_duration"], int) and isinstance(data["renewable"], bool)
        user, password = data["username"], issued(data["password"])
        issued(data["lease_id"])
        no_secret_shown(lease, password, data["lease_id"])
        if psycopg is None:  # pragma: no cover
            pytest.skip("psycopg not installed: lease data checked, no database login")
        dsn = dict(host=pg["host"], port=pg["port"], dbname=pg["database"], connect_timeout=10)
        with psycopg.connect(**dsn, user=user, password=password) as conn:
            assert conn.execute("select current_user").fetchone() == (user,)
        # lease_max_ttl 12 s: replaced by a new credential before it ends.
        replaced = threading.Event()
        lease.on_rotation(lambda _count: replaced.set())
        assert replaced.wait(30), lease.health()
        fresh = lease.current()
        issued(fresh["password"])
        assert fresh["lease_id"] != data["lease_id"]
        with psycopg.connect(**dsn, user=fresh["username"], password=fresh["password"]) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        lease.close()
        # Revoked on close: the lease is gone.
        lookup = stack.bao("PUT", "sys/leases/lookup", json={"lease_id": fresh["lease_id"]})
        assert lookup.status_code == 400, lookup.text


def test_report_unauthorized_and_refresh_are_accepted(stack: DevStack, jwt_file: str) -> None:
    with vault_token(stack, jwt_file) as token:
        assert token.ready(30)
        token.report_unauthorized()
        assert isinstance(token.refresh(), bool)
        assert token.ready(30)
        issued(token.current().get_secret_value())


def test_hmac_keyring_on_a_kv_field(stack: DevStack, jwt_file: str) -> None:
    put_kv(stack, "app/hmac", {"key": issued("kv-hmac-secret-0123456789")})
    with vault_token(stack, jwt_file) as token:
        ring = tokenkeep.HmacKeyring(token, mount=stack.openbao["kv_mount"], path="app/hmac", field="key", interval=1)
        assert ring.ready(30), ring.health()
        first = ring.current()
        signature = ring.sign("GET", "/orders")
        assert ring.verify(signature, "GET", "/orders") == first
        put_kv(stack, "app/hmac", {"key": issued("kv-hmac-secret-rotated-987654")})
        wait_until(lambda: ring.current() != first, 20, "the rotated KV secret is read")
        assert ring.verify(signature, "GET", "/orders") == first  # the previous one, within grace
        assert ring.verify(ring.sign("GET", "/orders"), "GET", "/orders") == ring.current()
        no_secret_shown(ring, "kv-hmac-secret-0123456789", "kv-hmac-secret-rotated-987654")
        ring.close()


def test_a_failing_login_is_reported_not_served(stack: DevStack, jwt_file: str) -> None:
    # OpenBao answers 400 for a role that does not exist. Whether that is
    # permanent (`fatal`) or retried is the runtime's call (today: retried,
    # last_error_code `invalid_request`); the binding maps either faithfully.
    token = tokenkeep.VaultToken(role="no-such-role", addr=stack.openbao["addr"], jwt_file=jwt_file)
    try:
        wait_until(lambda: token.health()["consecutive_failures"] >= 1, 20, "a failed login")
        health = token.health()
        assert health["state"] in ("empty", "fatal") and health["last_error_code"]
        assert health["last_refresh_ok"] is False
        assert token.ready(0.1) is False
        with pytest.raises(tokenkeep.CredentialUnavailable) as e:
            token.current()
        assert e.value.code == ("fatal" if token.health()["state"] == "fatal" else "not_yet_obtained")
        note(e.value)
    finally:
        token.close()
