"""Which records are excluded by configuration, kept between runs for ``status``.

An incremental run only sees records that changed, so "how many records are excluded" cannot be
read off the last run. :class:`Exclusions` follows every applied outcome (an exclusion adds the
record, any other outcome removes it) and keeps the set in the service state.
"""

from __future__ import annotations

from webcrm_fortnox.engine.apply import RecordOutcome, RecordStatus
from webcrm_fortnox.store.service import ServiceStore

KEY = "excluded"


class Exclusions:
    """The excluded records of one tenant, per entity.

    Args:
        store: the service tables.
        tenant: the tenant's name.
    """

    def __init__(self, store: ServiceStore, tenant: str) -> None:
        self.store = store
        self.tenant = tenant
        self.records: dict[str, set[str]] = {}
        self._loaded = False

    async def load(self) -> None:
        """Read the stored set (once)."""
        if self._loaded:
            return
        stored = await self.store.get(self.tenant, KEY) or {}
        self.records = {entity: set(keys) for entity, keys in stored.items()}
        self._loaded = True

    def observe(self, outcome: RecordOutcome) -> None:
        """Follow one applied outcome."""
        record = f"{outcome.webcrm_id or ''}|{outcome.fortnox_id or ''}"
        entity = self.records.setdefault(outcome.action.entity, set())
        if outcome.status is RecordStatus.EXCLUDED:
            entity.add(record)
        else:
            entity.discard(record)

    def counts(self) -> dict[str, int]:
        """Excluded records per entity."""
        return {entity: len(records) for entity, records in self.records.items()}

    async def save(self) -> None:
        """Store the set."""
        await self.store.put(
            self.tenant, KEY, {entity: sorted(keys) for entity, keys in self.records.items()}
        )
