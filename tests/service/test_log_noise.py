"""What ``run`` logs at INFO: the service's own lines, not every request of its libraries, and a
lasting condition once rather than on every attempt."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.service.live import Live, eventually, quick, running
from webcrm_fortnox.service.daemon import SyncService
from webcrm_fortnox.service.logs import ConditionLog, Redactor, setup_logging
from webcrm_fortnox.service.runner import RECONNECT
from webcrm_fortnox.store import StateDatabase


@contextmanager
def logged(level: int) -> Iterator[io.StringIO]:
    """Everything logged in the block, as the service's JSON lines."""
    stream = io.StringIO()
    root = logging.getLogger()
    before = root.level
    handler = setup_logging(Redactor(), level=level, stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(before)


def loggers(stream: io.StringIO) -> Counter[str]:
    return Counter(json.loads(line)["logger"] for line in stream.getvalue().splitlines())


async def test_library_requests_are_logged_only_at_debug(env: Live) -> None:
    for level, shown in ((logging.INFO, False), (logging.DEBUG, True)):
        with logged(level) as stream:
            async with httpx.AsyncClient() as client:
                await client.get(env.webcrm_url + "/_emulator/health")
        assert ("httpx" in loggers(stream)) is shown, level


async def test_a_refused_token_is_logged_once_and_not_asked_for_again_and_again(
    env: Live, db: StateDatabase
) -> None:
    config = env.tenant(fortnox={"client_secret": "not-the-secret"})
    service = SyncService([config], db, env.connector(), quick())
    worker = service.workers[config.name]
    await env.systems.reset_stats()
    with logged(logging.INFO) as stream:
        async with running(service):

            async def paused() -> bool:
                return worker.health == RECONNECT

            await eventually(paused, "the tenant paused")
            await asyncio.sleep(1.0)  # time for the feed to ask again, were it to
    messages = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    refusals = [m for m in messages if "token was refused" in m]
    assert len(refusals) == 1, refusals
    stats = (await env.systems.fortnox_api.get("/_emulator/stats")).json()["requests"]
    token_requests = sum(r["count"] for r in stats if r["route"].startswith("/oauth-v1/token"))
    # The sync's own attempts (with its retry after a 401) and the feed's one: not one a few
    # milliseconds for as long as the sync runs.
    assert token_requests <= 4, stats
    assert not any(logger in loggers(stream) for logger in ("httpx", "httpcore", "alembic"))


def test_a_condition_is_logged_once_then_when_it_changes_or_returns() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.condition")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        conditions = ConditionLog(logger)
        reported = [
            conditions.report("feed", "connection refused", "feed failed"),
            conditions.report("feed", "connection refused", "feed failed"),
            conditions.report("feed", "timed out", "feed failed differently"),
            conditions.clear("feed"),
            conditions.clear("feed"),
            conditions.report("feed", "timed out", "feed failed again"),
        ]
    finally:
        logger.removeHandler(handler)
    assert reported == [True, False, True, True, False, True]
    assert stream.getvalue().splitlines() == [
        "feed failed",
        "feed failed differently",
        "feed failed again",
    ]


def test_a_secret_is_masked_in_the_message_the_extras_and_a_condition() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    before = root.level
    handler = setup_logging(Redactor(["client-secret-1"]), level=logging.INFO, stream=stream)
    logger = logging.getLogger("tests.masking")
    try:
        logger.info("login with client-secret-1", extra={"sent": "Bearer eyJhbGciOi.abc.def"})
        ConditionLog(logger).report(
            "token", "refused", "refused", extra={"body": '{"access_token": "tok-123456"}'}
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(before)
    output = stream.getvalue()
    assert output.count("[redacted]") == 3, output
    for secret in ("client-secret-1", "eyJhbGciOi", "tok-123456"):
        assert secret not in output
