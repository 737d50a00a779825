"""Sliding-window rate limiting: the clients stay under it, the emulators enforce it.

Both vendors count requests in a sliding window (Fortnox 25 per 5 s per client and tenant, webCRM
250 per 60 s per application token). A token or leaky bucket with the same average would still let
bursts through that the vendor refuses, so the client side keeps the exact window too.

The vendor's window does not end with the process: when another process goes on with the same
credential (the next sync of a tenant on another worker), :meth:`RateLimiter.handover` gives the
window's requests as wall-clock times and :meth:`RateLimiter.take_over` counts them in the next
process's limiter, so the two together stay under the limit.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable


class SlidingWindow:
    """Counts events in the last ``period`` seconds and admits at most ``limit`` of them.

    Not thread-safe and not async: callers serialise. Times are any monotonic seconds.
    """

    def __init__(self, limit: int, period: float) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("limit must be >= 1 and period > 0")
        self.limit = limit
        self.period = period
        self._events: deque[float] = deque()

    def _expire(self, now: float) -> None:
        events = self._events
        while events and events[0] <= now - self.period:
            events.popleft()

    def try_acquire(self, now: float) -> float:
        """Take a slot if one is free.

        Returns:
            0.0 when the event was admitted (and counted), otherwise the seconds until a slot frees.
        """
        self._expire(now)
        if len(self._events) < self.limit:
            self._events.append(now)
            return 0.0
        return max(self._events[0] + self.period - now, 1e-3)

    def add(self, times: Iterable[float], now: float) -> None:
        """Count events that happened at ``times`` (elsewhere), beside those counted here."""
        self._events = deque(sorted([*self._events, *times]))
        self._expire(now)

    def times(self, now: float) -> list[float]:
        """The times of the events the window holds at ``now``, oldest first."""
        self._expire(now)
        return list(self._events)

    def in_window(self, now: float) -> int:
        """How many events the window holds at ``now``."""
        self._expire(now)
        return len(self._events)


class RateLimiter:
    """An async limiter over a :class:`SlidingWindow`, shared by every task using one credential.

    ``acquire()`` waits until a slot is free. Waiters are served in arrival order, so a saturating
    caller spreads its requests exactly at the limit instead of bursting into 429s.

    Args:
        limit: requests allowed per ``period``.
        period: the window in seconds.
        monotonic: the clock (injectable for tests).
        sleep: the sleeper (injectable for tests).
    """

    def __init__(
        self,
        limit: int,
        period: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.window = SlidingWindow(limit, period)
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self.waited_seconds = 0.0
        #: the stamps of the windows handed over from elsewhere that it has counted (see
        #: :mod:`webcrm_fortnox.store.ratelimits`)
        self.counted_handovers: set[str] = set()

    async def acquire(self) -> None:
        """Wait for, and take, one slot."""
        async with self._lock:
            while True:
                wait = self.window.try_acquire(self._monotonic())
                if wait == 0.0:
                    return
                self.waited_seconds += wait
                await self._sleep(wait)

    def handover(self, wall: float) -> list[float]:
        """The requests in the window as wall-clock times (``wall`` is now on that clock), for
        another process using the same credential to go on counting them."""
        now = self._monotonic()
        return [wall - (now - at) for at in self.window.times(now)]

    def take_over(self, times: Iterable[float], wall: float) -> None:
        """Count requests another process made with the same credential (wall-clock
        ``times``; ``wall`` is now on that clock) in this limiter's window."""
        now = self._monotonic()
        self.window.add((now - (wall - at) for at in times), now)

    def penalise(self, seconds: float) -> None:
        """Fill the window after the vendor answered 429, so nobody sends for ``seconds``."""
        now = self._monotonic()
        events = self.window._events
        events.clear()
        start = now + seconds - self.window.period
        events.extend([start] * self.window.limit)
