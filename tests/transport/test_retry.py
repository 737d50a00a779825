"""When to retry and how long to wait."""

from __future__ import annotations

import random
from typing import Any

import pytest

from webcrm_fortnox.errors import (
    ApiError,
    AuthExpired,
    NotFound,
    RateLimited,
    TransientError,
    ValidationError,
)
from webcrm_fortnox.transport.retry import RetryPolicy


def policy(**kw: Any) -> RetryPolicy:
    return RetryPolicy(rng=random.Random(7), **kw)


def test_backoff_doubles_with_full_jitter_and_a_cap() -> None:
    retry = policy(base_delay=1.0, max_delay=5.0)
    error = TransientError("down")
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        delays = [retry.delay(attempt, error) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_rate_limit_waits_the_window_or_retry_after_plus_jitter() -> None:
    retry = policy(rate_limit_delay=5.0)
    assert 5.0 <= retry.delay(1, RateLimited("429")) <= 6.0
    assert 2.0 <= retry.delay(1, RateLimited("429", retry_after=2.0)) <= 2.4


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        (TransientError("5xx"), True, True),
        (TransientError("5xx"), False, False),
        (TransientError("refused", not_sent=True), False, True),
        (RateLimited("429"), False, True),
        (ValidationError("bad"), True, False),
        (NotFound("gone"), True, False),
        (AuthExpired("401"), True, False),
    ],
)
def test_what_is_retried(error: ApiError, idempotent: bool, expected: bool) -> None:
    assert policy().should_retry(1, error, idempotent=idempotent) is expected


def test_attempts_are_bounded() -> None:
    retry = policy(attempts=3)
    assert retry.should_retry(2, TransientError("x"), idempotent=True)
    assert not retry.should_retry(3, TransientError("x"), idempotent=True)
