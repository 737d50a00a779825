"""The vendors' rate-limit windows, handed from one process to the next through the store.

Fortnox counts 25 requests per sliding 5 s per client id and company, webCRM 250 a minute per
token, whichever process sends them. When the next sync of a tenant runs in another process
than the last (another worker, a restarted service, ``sync --once`` after ``run``), it must not
spend a window the last one already used: a process hands its limiters' windows over when it
closes the tenant's clients, and the next one takes them over when it opens them.

Each handover carries a stamp, and a limiter counts a stamp once, so a process reopening a
tenant's clients never counts its own requests twice. Syncs of one credential running *at the
same time* in two processes are not covered: each keeps its own window meanwhile.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import sqlalchemy as sa

from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.state import StateDatabase
from webcrm_fortnox.store.upsert import upsert
from webcrm_fortnox.transport.ratelimit import RateLimiter

log = logging.getLogger(__name__)


class RateWindows:
    """Rate-limit windows in a :class:`StateDatabase`.

    Args:
        db: the state database.
        wall: the wall clock (epoch seconds) every process agrees on.
    """

    def __init__(self, db: StateDatabase, wall: Callable[[], float]) -> None:
        self.db = db
        self.wall = wall

    async def take_over(self, key: str, limiter: RateLimiter) -> None:
        """Count the requests of the window last handed over under ``key`` in ``limiter``."""
        table = t.rate_windows
        query = sa.select(table.c.stamp, table.c.times).where(table.c.key == key)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None or row.stamp in limiter.counted_handovers:
            return
        limiter.counted_handovers.add(row.stamp)
        limiter.take_over([float(at) for at in row.times], self.wall())

    async def hand_over(self, key: str, limiter: RateLimiter) -> None:
        """Store ``limiter``'s window under ``key`` for the next process."""
        stamp = uuid.uuid4().hex
        limiter.counted_handovers.add(stamp)  # its own requests are counted already
        times = limiter.handover(self.wall())
        async with self.db.engine.begin() as conn:
            await upsert(
                conn,
                t.rate_windows,
                {"key": key},
                {"stamp": stamp, "times": times, "updated_at": self.db.clock()},
            )

    @asynccontextmanager
    async def kept(self, limiters: Mapping[str, RateLimiter]) -> AsyncIterator[None]:
        """Take the windows of ``limiters`` (by key) over for the block, hand them over after.

        A handover that cannot be stored is logged: the next process may then meet a 429,
        which its client waits out.
        """
        for key, limiter in limiters.items():
            await self.take_over(key, limiter)
        try:
            yield
        finally:
            for key, limiter in limiters.items():
                try:
                    await self.hand_over(key, limiter)
                except sa.exc.SQLAlchemyError as error:
                    log.warning(
                        "rate-limit window not handed over", extra={"key": key, "error": str(error)}
                    )
