"""One shared :class:`RateLimiter` per credential, held by an object the application owns.

A vendor counts its rate limit per credential (webCRM: per application token; Fortnox: per client
id and tenant), so every client object and task acting for the same credential must draw from
the same limiter or together they overrun the window. The registry is an ordinary object passed
to the clients (one per process or worker), never a module global, so tenants and tests stay
isolated.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable

from webcrm_fortnox.transport.ratelimit import RateLimiter


class LimiterRegistry:
    """Hands out one :class:`RateLimiter` per key, creating it on first use.

    Args:
        limit: requests per ``period`` for every limiter it creates.
        period: the window in seconds.
        monotonic: the clock of the limiters (injectable for tests).
        sleep: their sleeper (injectable for tests).
    """

    def __init__(
        self,
        limit: int,
        period: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self.period = period
        self._monotonic = monotonic
        self._sleep = sleep
        self._limiters: dict[Hashable, RateLimiter] = {}

    def get(self, key: Hashable) -> RateLimiter:
        """The limiter for ``key`` (the same object for every caller with an equal key)."""
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = RateLimiter(
                self.limit, self.period, monotonic=self._monotonic, sleep=self._sleep
            )
            self._limiters[key] = limiter
        return limiter

    def __len__(self) -> int:
        return len(self._limiters)
