"""A verifier built before os.fork() (gunicorn --preload) keeps working in
the child: its refresh task restarts (os.register_at_fork), a new kid is
fetched at once, events still reach logging, verify_async still resolves."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import List

from conftest import DevIssuer

import tokenkeep


def test_a_forked_child_refetches_logs_and_awaits(own_issuer: DevIssuer) -> None:
    verifier = tokenkeep.Verifier(issuer=own_issuer.url, audience="api")
    assert verifier.ready(10)
    assert verifier.verify(own_issuer.mint())["sub"] == "alice"
    time.sleep(0.2)  # the refresh task at rest, waiting for its next wake
    own_issuer.rotate()
    new_kid = own_issuer.mint()
    another = own_issuer.mint({"sub": "bob"})

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, leave with _exit
        os.close(read)
        events: List[str] = []

        class Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                events.append(getattr(record, "event", ""))

        logging.getLogger("tokenkeep").addHandler(Collect())
        outcome = "ok"
        try:
            assert verifier.verify(new_kid)["sub"] == "alice"

            async def verify_async() -> str:
                claims = await verifier.verify_async(another)
                return str(claims["sub"])

            assert asyncio.run(verify_async()) == "bob"
            assert verifier.health()[0]["fetches_on_miss"] == 1
            deadline = time.monotonic() + 30
            while "jwks_refreshed" not in events and time.monotonic() < deadline:
                time.sleep(0.02)
            assert "jwks_refreshed" in events, events
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            outcome = f"{type(e).__name__}: {e}"
        os.write(write, outcome.encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    report = os.read(read, 4096).decode()
    os.close(read)
    assert os.WIFEXITED(status) and report == "ok", report
    # The parent refetches on its own too.
    assert verifier.verify(new_kid)["sub"] == "alice"
    verifier.close()
