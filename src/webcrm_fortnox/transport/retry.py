"""When and how long to wait before trying a failed call again.

The policy is small on purpose: exponential backoff with full jitter, capped, honouring the
vendor's ``Retry-After`` when it gives one. Whether a call may be retried at all is decided by the
error class (``ApiError.retriable``) and by whether the request is safe to repeat: a create that
timed out may have been carried out, so it is *not* retried here; the sync engine resolves it by
looking the record up (see ``engine``), which is how duplicates are avoided.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from webcrm_fortnox.errors import ApiError, RateLimited, TransientError


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff settings.

    Attributes:
        attempts: tries in all, the first included.
        base_delay: the first backoff in seconds; doubles per attempt.
        max_delay: the cap on one backoff.
        rate_limit_delay: the wait after a 429 that names no ``Retry-After`` (Fortnox's 429 has
            none; its window is 5 s).
    """

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    rate_limit_delay: float = 5.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int, error: ApiError) -> float:
        """Seconds to wait before try number ``attempt + 1`` (``attempt`` counts from 1)."""
        if isinstance(error, RateLimited):
            base = error.retry_after if error.retry_after is not None else self.rate_limit_delay
            # A little jitter so that many workers released together do not collide again.
            return base + self.rng.uniform(0, min(1.0, base * 0.2))
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return self.rng.uniform(ceiling / 2, ceiling)

    def should_retry(self, attempt: int, error: ApiError, *, idempotent: bool) -> bool:
        """Whether to try again after ``error`` on try number ``attempt``.

        A non-idempotent request is repeated only when the vendor provably did not act on it
        (429, or a connection that never reached the server).
        """
        if attempt >= self.attempts or not error.retriable:
            return False
        if idempotent or isinstance(error, RateLimited):
            return True
        return isinstance(error, TransientError) and error.not_sent
