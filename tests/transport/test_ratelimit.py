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


async def test_a_window_handed_over_goes_on_counting_in_the_next_process() -> None:
    # Two processes: monotonic clocks far apart, one wall clock (here 1,000,000 s ahead).
    first, second = FakeTime(), FakeTime()
    second.now = 7_000.0
    wall_offset = 1_000_000.0
    before = RateLimiter(5, 5.0, monotonic=first.monotonic, sleep=first.sleep)
    for _ in range(5):
        await before.acquire()
        first.now += 0.5  # five requests over the last 2.5 s; the last at 102.0
    times = before.handover(first.now + wall_offset)
    assert times == pytest.approx([wall_offset + 100.0 + 0.5 * n for n in range(5)])

    # The next process starts 1 s later by the wall clock.
    second_wall = first.now + 1.0 + wall_offset
    after = RateLimiter(5, 5.0, monotonic=second.monotonic, sleep=second.sleep)
    after.take_over(times, second_wall)
    start = second.now
    await after.acquire()
    # The oldest request handed over (at 100.0) leaves the window at 105.0, i.e. 1.5 s later.
    assert second.now - start == pytest.approx(1.5)
