"""The records of one entity in one webCRM system, with ids kept in order and secondary indexes.

Lists page by id (ascending, as the real API appears to), and the filtered lists
(``/Deliveries/ByOrganisation/{id}``, ``/Deliveries/{id}/QuotationLines``) and uniqueness checks
read an index, so no request walks a whole table it does not need: systems of 10,000
organisations page and look up in time proportional to the page, not to the table.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from webcrm_fortnox.emulation import Record, Table


def folded(value: Any) -> Hashable:
    """The key under which text values count as equal (webCRM compares case-insensitively)."""
    return value.strip().casefold() if isinstance(value, str) else value


def exact(value: Any) -> Hashable:
    return value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class IndexSpec:
    """An index to keep on ``field``; ``key`` normalises values (e.g. :func:`folded`)."""

    field: str
    key: Callable[[Any], Hashable] = exact


class FieldIndex:
    """Record ids by the value of one field, each list sorted."""

    def __init__(self, spec: IndexSpec) -> None:
        self.field = spec.field
        self._key = spec.key
        self._ids: dict[Hashable, list[int]] = {}

    def add(self, record_id: int, record: Record) -> None:
        ids = self._ids.setdefault(self._key(record.get(self.field)), [])
        bisect.insort(ids, record_id)

    def remove(self, record_id: int, record: Record) -> None:
        key = self._key(record.get(self.field))
        ids = self._ids.get(key, [])
        position = bisect.bisect_left(ids, record_id)
        if position < len(ids) and ids[position] == record_id:
            del ids[position]
            if not ids:
                del self._ids[key]

    def ids(self, value: Any) -> list[int]:
        """The ids of the records whose field equals ``value`` (after the key), ascending."""
        return self._ids.get(self._key(value), [])

    def clear(self) -> None:
        self._ids.clear()


class Collection:
    """All records of one entity of one system."""

    def __init__(self, table: Table, id_field: str, indexes: Iterable[IndexSpec] = ()) -> None:
        self.table = table
        self.id_field = id_field
        self.indexes = {spec.field: FieldIndex(spec) for spec in indexes}
        self._ids: list[int] = []
        for key in table:
            record = table.get(key)
            if record is not None:
                self._remember(int(key), record)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> list[int]:
        """Every id, ascending (do not modify)."""
        return self._ids

    def get(self, record_id: int) -> Record | None:
        """The stored record (do not modify it in place; :meth:`put` a changed copy)."""
        return self.table.get(str(record_id))

    def records(self, ids: Iterable[int]) -> list[Record]:
        found = (self.table.get(str(i)) for i in ids)
        return [r for r in found if r is not None]

    def index(self, field: str) -> FieldIndex:
        return self.indexes[field]

    def put(self, record: Record) -> None:
        """Insert ``record`` or replace the stored one with the same id."""
        record_id = int(record[self.id_field])
        previous = self.get(record_id)
        if previous is not None:
            self._forget(record_id, previous)
        self.table.put(str(record_id), record)
        self._remember(record_id, record)

    def remove(self, record_id: int) -> Record | None:
        previous = self.get(record_id)
        if previous is not None:
            self._forget(record_id, previous)
            self.table.delete(str(record_id))
        return previous

    def clear(self) -> None:
        self.table.clear()
        self._ids.clear()
        for index in self.indexes.values():
            index.clear()

    def _remember(self, record_id: int, record: Record) -> None:
        position = bisect.bisect_left(self._ids, record_id)
        if position == len(self._ids) or self._ids[position] != record_id:
            self._ids.insert(position, record_id)
        for index in self.indexes.values():
            index.add(record_id, record)

    def _forget(self, record_id: int, record: Record) -> None:
        position = bisect.bisect_left(self._ids, record_id)
        if position < len(self._ids) and self._ids[position] == record_id:
            del self._ids[position]
        for index in self.indexes.values():
            index.remove(record_id, record)


def page_of(ids: list[int], page: int, size: int) -> list[int]:
    """The ids on 1-based ``page`` of ``size``; empty past the end."""
    start = (page - 1) * size
    return ids[start : start + size]
