"""Fortnox's side of client rate limiting: its limit, and the key it counts by.

Fortnox counts 25 requests per sliding 5 s window per client id *and tenant*; several access
tokens of the same pair do not multiply it (reference §3). So every task and client object acting
for one pair must draw from the same limiter, which the caller's
:class:`~webcrm_fortnox.transport.limiters.LimiterRegistry` hands out by :func:`limiter_key`.
"""

from __future__ import annotations

from webcrm_fortnox.transport.limiters import LimiterRegistry

#: Requests per window the client allows itself. One below Fortnox's 25: SDK authors still saw
#: 429s at exactly 25 per 5 s (reference §3, §8.15).
DEFAULT_LIMIT = 24
DEFAULT_PERIOD = 5.0


def limiter_key(client_id: str, tenant_id: int | str) -> tuple[str, str, str]:
    """The registry key of one company's limit: one per client id and tenant."""
    return ("fortnox", client_id, str(tenant_id))


def fortnox_limiters(limit: int = DEFAULT_LIMIT, period: float = DEFAULT_PERIOD) -> LimiterRegistry:
    """A registry of Fortnox limiters (24 per 5 s unless told otherwise)."""
    return LimiterRegistry(limit, period)
