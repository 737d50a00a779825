"""The registry that hands every user of one credential the same limiter."""

from __future__ import annotations

import asyncio

from webcrm_fortnox.transport.limiters import LimiterRegistry


def test_same_key_same_limiter_other_key_other_limiter() -> None:
    registry = LimiterRegistry(10, 60.0)
    first = registry.get(("webcrm", "token-a"))
    assert registry.get(("webcrm", "token-a")) is first
    assert registry.get(("webcrm", "token-b")) is not first
    assert len(registry) == 2
    assert (first.window.limit, first.window.period) == (10, 60.0)


def test_registries_are_independent() -> None:
    assert LimiterRegistry(1, 1.0).get("k") is not LimiterRegistry(1, 1.0).get("k")


async def test_limiters_use_the_injected_clock_and_sleep() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds
        await asyncio.sleep(0)

    limiter = LimiterRegistry(1, 5.0, monotonic=lambda: now[0], sleep=sleep).get("k")
    await limiter.acquire()
    await limiter.acquire()
    assert slept == [5.0]
