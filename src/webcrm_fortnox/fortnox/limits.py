"""One client-side rate limiter per Fortnox (client id, tenant), shared by everyone using it.

Fortnox counts 25 requests per sliding 5 s window per client id *and tenant*; several access
tokens of the same pair do not multiply it (reference §3). So every task and every client object
acting for the same pair must draw from the same limiter, or together they overrun the window.
The registry is an ordinary object the application owns (one per process or per worker), never a
module global, so tenants and tests stay isolated.
"""

from __future__ import annotations

from collections.abc import Hashable

from webcrm_fortnox.transport.ratelimit import RateLimiter

#: Requests per window the client allows itself. One below Fortnox's 25: SDK authors still saw
#: 429s at exactly 25 per 5 s (reference §3, §8.15).
DEFAULT_LIMIT = 24
DEFAULT_PERIOD = 5.0


class LimiterRegistry:
    """Hands out one :class:`RateLimiter` per key, creating it on first use.

    Args:
        limit: requests per ``period`` for every limiter it creates.
        period: the window in seconds.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT, period: float = DEFAULT_PERIOD) -> None:
        self.limit = limit
        self.period = period
        self._limiters: dict[Hashable, RateLimiter] = {}

    def get(self, key: Hashable) -> RateLimiter:
        """The limiter for ``key``, e.g. ``(client_id, tenant_id)``."""
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = RateLimiter(self.limit, self.period)
        return limiter

    def for_tenant(self, client_id: str, tenant_id: int | str) -> RateLimiter:
        """The limiter Fortnox's own counting implies: one per client id and tenant."""
        return self.get((client_id, str(tenant_id)))

    def __len__(self) -> int:
        return len(self._limiters)
