"""Measured propagation lags, kept a while so that their percentiles can be drawn.

``run`` measures how long a change took to reach the other system (see
:mod:`webcrm_fortnox.service.worker`) and stores each measurement here after the sync that made
it; the read model returns them (:meth:`~webcrm_fortnox.store.queries.ReadModel.lag_samples`).
Samples older than :data:`KEEP` go as new ones come.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa

from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.state import StateDatabase

#: How long a sample is kept.
KEEP = timedelta(days=7)


class LagSamples:
    """The ``lag_samples`` table of a :class:`StateDatabase`."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    async def record(self, tenant: str, samples: Sequence[tuple[str, float]]) -> None:
        """Store ``tenant``'s new samples (direction, seconds), stamped now, and drop those
        older than :data:`KEEP`, in one transaction; nothing when there are none."""
        if not samples:
            return
        now = self.db.clock()
        rows = t.lag_samples.c
        async with self.db.begin() as conn:
            await conn.execute(
                sa.insert(t.lag_samples),
                [
                    {"tenant": tenant, "direction": direction, "seconds": seconds, "at": now}
                    for direction, seconds in samples
                ],
            )
            await conn.execute(
                sa.delete(t.lag_samples).where(rows.tenant == tenant, rows.at < now - KEEP)
            )
