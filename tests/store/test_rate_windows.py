"""Rate-limit windows handed over through the store (SQLite and, when configured, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.store.backends import BACKENDS, open_database
from tests.transport.test_ratelimit import FakeTime
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.ratelimits import RateWindows
from webcrm_fortnox.transport.ratelimit import RateLimiter


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateDatabase]:
    async for database in open_database(request.param, tmp_path):
        yield database


def limiter(clock: FakeTime) -> RateLimiter:
    return RateLimiter(3, 5.0, monotonic=clock.monotonic, sleep=clock.sleep)


async def test_the_next_process_waits_for_the_window_the_last_one_used(db: StateDatabase) -> None:
    clock = FakeTime()  # both "processes" on one wall clock: the fake's own seconds
    windows = RateWindows(db, wall=clock.monotonic)
    first = limiter(clock)
    async with windows.kept({"fortnox:client:1": first}):
        for _ in range(3):
            await first.acquire()
    second = limiter(clock)
    async with windows.kept({"fortnox:client:1": second, "webcrm:other": limiter(clock)}):
        start = clock.now
        await second.acquire()
        assert clock.now - start == pytest.approx(5.0)  # the first's window was full


async def test_a_process_counts_each_handover_once(db: StateDatabase) -> None:
    clock = FakeTime()
    windows = RateWindows(db, wall=clock.monotonic)
    other = limiter(clock)
    await other.acquire()
    await windows.hand_over("key", other)
    mine = limiter(clock)
    for _ in range(2):  # the tenant's clients opened twice in one process
        await windows.take_over("key", mine)
    assert mine.window.in_window(clock.now) == 1
    # Its own handover, taken over again, is not counted a second time either.
    await windows.hand_over("key", mine)
    await windows.take_over("key", mine)
    assert mine.window.in_window(clock.now) == 1
