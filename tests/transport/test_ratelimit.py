"""The sliding window and the async limiter, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from webcrm_fortnox.transport.ratelimit import RateLimiter, SlidingWindow


class FakeTime:
    """A monotonic clock whose sleep moves it forward instantly."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def test_window_admits_limit_then_says_how_long_to_wait() -> None:
    window = SlidingWindow(3, 5.0)
    assert [window.try_acquire(t) for t in (0.0, 1.0, 2.0)] == [0.0, 0.0, 0.0]
    assert window.try_acquire(2.5) == pytest.approx(2.5)  # the event at 0.0 leaves at 5.0
    assert window.in_window(2.5) == 3


def test_window_slides_rather_than_resetting() -> None:
    window = SlidingWindow(2, 5.0)
    window.try_acquire(0.0)
    window.try_acquire(4.0)
    assert window.try_acquire(5.0) == 0.0  # 0.0 expired exactly at 5.0
    assert window.try_acquire(6.0) == pytest.approx(3.0)  # 4.0 leaves at 9.0


def test_window_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        SlidingWindow(0, 5.0)
    with pytest.raises(ValueError):
        SlidingWindow(1, 0)


def busiest_window(times: list[float], period: float) -> int:
    """The most events any window of ``period`` holds."""
    return max(sum(1 for t in times if start <= t < start + period) for start in times)


async def test_saturating_callers_never_exceed_the_window() -> None:
    clock = FakeTime()
    limiter = RateLimiter(24, 5.0, monotonic=clock.monotonic, sleep=clock.sleep)
    admitted: list[float] = []

    async def worker() -> None:
        for _ in range(10):
            await limiter.acquire()
            admitted.append(clock.now)

    await asyncio.gather(*(worker() for _ in range(10)))
    assert len(admitted) == 100
    assert busiest_window(admitted, 5.0) == 24
    assert limiter.waited_seconds > 0


async def test_penalise_blocks_everyone_for_the_given_time() -> None:
    clock = FakeTime()
    limiter = RateLimiter(5, 5.0, monotonic=clock.monotonic, sleep=clock.sleep)
    await limiter.acquire()
    limiter.penalise(4.0)
    start = clock.now
    await limiter.acquire()
    assert clock.now - start == pytest.approx(4.0)
