"""verify_async and ready_async are asyncio awaitables that never block the
event loop: a JWKS endpoint answering after 2 s does not stop other coroutines."""

from __future__ import annotations

import asyncio
import time
from typing import List

import pytest
from conftest import DevIssuer, note

import tokenkeep


def test_verify_async_and_async_with(issuer: DevIssuer) -> None:
    async def run() -> None:
        async with tokenkeep.Verifier(issuer=issuer.url, audience="api") as verifier:
            assert await verifier.ready_async(10)
            token = issuer.mint()
            claims = await verifier.verify_async(token)
            assert claims["sub"] == "alice"
            results = await asyncio.gather(*(verifier.verify_async(token) for _ in range(50)))
            assert all(r == claims for r in results)
            with pytest.raises(tokenkeep.WrongAudience) as info:
                await verifier.verify_async(issuer.mint({"aud": "x"}))
            note(info.value)
        assert verifier.closed

    asyncio.run(run())


def test_the_loop_runs_while_a_refetch_hangs(own_issuer: DevIssuer) -> None:
    async def run() -> None:
        verifier = tokenkeep.Verifier(issuer=own_issuer.url, audience="api")
        assert await verifier.ready_async(10)
        own_issuer.rotate()
        token = own_issuer.mint()  # signed with a key the verifier has not seen
        fetches = own_issuer.stats()["by_endpoint"].get("/jwks", 0)
        own_issuer.outage(2, mode="hang")  # the JWKS request answers after 2 s

        ticks: List[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        try:
            await verifier.verify_async(token)
        except tokenkeep.Rejected as rejected:
            # The answer after the hang was a 503: the kid stays unknown.
            assert rejected.code == "unknown_kid"
        waited = time.monotonic() - started
        done.set()
        await ticking
        during = [t for t in ticks if started <= t <= started + waited]
        # A blocked loop would have ticked at most once while verify waited.
        assert len(during) > 20, (len(during), waited)
        assert own_issuer.stats()["by_endpoint"].get("/jwks", 0) > fetches
        verifier.close()

    asyncio.run(run())


def test_cancelling_a_pending_verify(own_issuer: DevIssuer) -> None:
    async def run() -> None:
        verifier = tokenkeep.Verifier(issuer=own_issuer.url, audience="api")
        assert await verifier.ready_async(10)
        own_issuer.rotate()
        token = own_issuer.mint()
        own_issuer.outage(3, mode="hang")
        pending = asyncio.ensure_future(verifier.verify_async(token))
        await asyncio.sleep(0.2)
        assert not pending.done()
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        # The verifier is unharmed.
        old_kid_token = own_issuer.mint()
        with pytest.raises(tokenkeep.Rejected):
            verifier.verify_cached(old_kid_token)
        verifier.close()

    asyncio.run(run())


def test_rotations_async_iterator(own_issuer: DevIssuer) -> None:
    async def run() -> None:
        verifier = tokenkeep.Verifier(issuer=own_issuer.url, audience="api")
        assert await verifier.ready_async(10)
        rotations = verifier.rotations()
        start = rotations.count

        async def follow() -> List[int]:
            seen = []
            async for generation in rotations:
                seen.append(generation)
            return seen

        following = asyncio.create_task(follow())
        await asyncio.sleep(0.1)
        own_issuer.rotate()
        # A token with the new kid makes the verifier fetch the new key set.
        assert (await verifier.verify_async(own_issuer.mint()))["sub"] == "alice"
        while rotations.count == start:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        verifier.close()  # ends the iteration
        seen = await asyncio.wait_for(following, 30)
        assert seen and seen[-1] > start

    asyncio.run(run())


def test_verify_async_needs_a_running_loop(issuer: DevIssuer) -> None:
    verifier = tokenkeep.Verifier(issuer=issuer.url, audience="api")
    with pytest.raises(RuntimeError):
        verifier.verify_async("a.b.c")
    verifier.close()
