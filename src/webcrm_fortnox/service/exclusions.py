"""Which records are excluded by configuration, kept as rows for ``status``.

An incremental run only sees records that changed, so "how many records are excluded" cannot be
read off the last run. :class:`Exclusions` follows every applied outcome of a sync: an exclusion
records the record (with why), any other outcome drops every row of either of its ids, so a
record excluded before it was linked (known by its webCRM id alone) is no longer counted once
it syncs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from webcrm_fortnox.engine.apply import RecordOutcome, RecordStatus
from webcrm_fortnox.store.state import ExclusionChange


class ExclusionLog(Protocol):
    """Where a tenant's excluded records are kept (the state store's ``excluded_records``)."""

    async def record_exclusions(self, changes: Sequence[ExclusionChange]) -> None:
        """Apply ``changes`` in order, in one transaction."""
        ...


class Exclusions:
    """The exclusions a sync of one tenant observes, stored when it asks.

    Args:
        log: the tenant's state store.
    """

    def __init__(self, log: ExclusionLog) -> None:
        self.log = log
        self._changes: list[ExclusionChange] = []

    def observe(self, outcome: RecordOutcome) -> None:
        """Follow one applied outcome."""
        self._changes.append(
            ExclusionChange(
                entity=outcome.action.entity,
                webcrm_id=outcome.webcrm_id,
                fortnox_id=outcome.fortnox_id,
                excluded=outcome.status is RecordStatus.EXCLUDED,
                reason=outcome.detail if outcome.status is RecordStatus.EXCLUDED else None,
            )
        )

    async def save(self) -> None:
        """Store what was observed since the last save."""
        changes, self._changes = self._changes, []
        await self.log.record_exclusions(changes)
