"""The engine's ports in memory: record sources and a state store without HTTP or SQL.

They let the engine-throughput benchmark time diff and plan alone. A source keeps each record as
plain vendor-like rows and maps them to :class:`SourceRecord` on every read, as an adapter does,
so the memory measured includes the records a run holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from webcrm_fortnox.engine.ports import (
    ChangeBatch,
    Conflict,
    ConflictReport,
    Fields,
    Intent,
    Link,
    MatchDecision,
    RecordError,
    SourceRecord,
    System,
)

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class MemorySource:
    """One system's records of one entity, read in full by ``changes`` (read only).

    Args:
        system: ``"webcrm"`` or ``"fortnox"``.
        entity: e.g. ``"customer"``.
        rows: record id → canonical field values.
    """

    def __init__(self, system: System, entity: str, rows: dict[str, dict[str, Any]]) -> None:
        self.system: System = system
        self.entity = entity
        self.rows = rows

    def _record(self, record_id: str, row: Mapping[str, Any]) -> SourceRecord:
        return SourceRecord(id=record_id, fields=dict(row), modified_at=_EPOCH)

    async def changes(self, cursor: str | None) -> ChangeBatch:
        records = [self._record(i, row) for i, row in self.rows.items()]
        return ChangeBatch(records=records, next_cursor="read")

    async def all(self) -> AsyncIterator[SourceRecord]:
        for record_id, row in self.rows.items():
            yield self._record(record_id, row)

    async def get(self, id: str) -> SourceRecord | None:
        row = self.rows.get(id)
        return None if row is None else self._record(id, row)

    async def create(self, fields: Fields, idempotency_key: str) -> SourceRecord:
        raise NotImplementedError("the throughput benchmark only plans")

    async def update(self, id: str, changes: Fields, current: SourceRecord) -> SourceRecord:
        raise NotImplementedError("the throughput benchmark only plans")

    async def find_by_key(self, idempotency_key: str) -> SourceRecord | None:
        return None


class MemoryState:
    """A tenant's state holding only links: what planning a linked tenant reads.

    Args:
        links: the links, as the state store would list them.
    """

    tenant = "bench"

    def __init__(self, links: Sequence[Link]) -> None:
        self._links = list(links)

    async def links(self, entity: str) -> list[Link]:
        return [link for link in self._links if link.entity == entity]

    async def cursor(self, system: System, entity: str) -> str | None:
        return None

    async def pending_intents(self, entity: str) -> list[Intent]:
        return []

    async def open_errors(self, entity: str | None = None) -> list[RecordError]:
        return []

    async def conflicts(
        self, entity: str | None = None, *, open_only: bool = False
    ) -> list[Conflict]:
        return []

    async def match_decisions(self, entity: str) -> list[MatchDecision]:
        return []

    async def add_conflicts(
        self, entity: str, link: Link, conflicts: Sequence[ConflictReport]
    ) -> None:
        raise NotImplementedError("the throughput benchmark only plans")
