"""Reading what changed in webCRM, and the cursor that says where the next read starts.

webCRM has no change feed; changes are the rows of ``/Queries`` whose ``*UpdatedAt`` is at or
after the cursor less an overlap (five minutes: a save in flight may land with an earlier time,
and the zone webCRM compares in is not documented). Two things keep that overlap cheap:

- the cursor moves with *webCRM's* clock (the ``Date`` of its answers), not only with the newest
  change seen, so once nothing has changed for five minutes a read lists nothing at all instead
  of the last five minutes of activity, however long ago that was;
- the cursor remembers the rows the next read will list again (id and update time), and those
  are dropped before they reach the engine.

One entity can be read from more than one table (a delivery changes when it or one of its lines
does): :class:`TableCursors` keeps one such cursor per table in the one text the state store
holds for the entity.

A row is remembered only when its update time lies at least :data:`SETTLE` before the read
started: webCRM's timestamps have whole seconds, so a second save within the second of the read
would carry the same time and must not be taken for the one already read.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from webcrm_fortnox.engine.adapters.common import decode_cursor, encode_cursor
from webcrm_fortnox.engine.ports import utcnow
from webcrm_fortnox.webcrm.timing import DEFAULT_OVERLAP

if TYPE_CHECKING:
    from webcrm_fortnox.webcrm.client import WebcrmClient

#: How long before the read started a row's update time must lie for it to be remembered.
SETTLE = timedelta(seconds=2)
#: At most this many rows are remembered; beyond it, re-listed rows are simply handled again.
MAX_REMEMBERED = 20_000


class _Dated(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def updated_at(self) -> datetime | None: ...


T = TypeVar("T", bound=_Dated)


@dataclass(frozen=True)
class FeedCursor:
    """Where the next read of one webCRM table starts, and which rows it will list again.

    Attributes:
        at: the next read lists rows updated at or after ``at`` less the overlap.
        seen: id → update time of rows already handled that the next read lists again.
    """

    at: datetime
    seen: Mapping[int, datetime] = field(default_factory=dict)

    def encode(self) -> str:
        """The stored form: JSON of the time and, per update time, the ids remembered (a bare
        ISO time when nothing is remembered)."""
        if not self.seen:
            return encode_cursor(self.at)
        by_time: dict[str, list[int]] = {}
        for record_id, updated in sorted(self.seen.items()):
            by_time.setdefault(encode_cursor(updated), []).append(record_id)
        data = {"at": encode_cursor(self.at), "seen": by_time}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> FeedCursor:
        """Read a stored cursor (also the bare ISO times written before rows were remembered).

        Raises:
            ValueError: the text is not such a cursor.
        """
        if not text.startswith("{"):
            return cls(decode_cursor(text))
        data: Any = json.loads(text)
        seen = {
            int(record_id): decode_cursor(updated)
            for updated, ids in dict(data.get("seen") or {}).items()
            for record_id in ids
        }
        return cls(decode_cursor(str(data["at"])), seen)


@dataclass(frozen=True)
class TableCursors:
    """The cursors of the tables one entity is read from, stored as one text.

    Stored as JSON ``{"tables": {table: cursor}}``; any other text is a :class:`FeedCursor` of
    the entity's first table alone (the form stored before a second table was read).
    """

    tables: Mapping[str, str]

    def encode(self) -> str:
        return json.dumps({"tables": dict(self.tables)}, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None, first: str) -> TableCursors:
        """Read a stored cursor (``None``: nothing read yet) of an entity whose first table is
        ``first``.

        Raises:
            ValueError: the text is neither form.
        """
        if text is None:
            return cls({})
        if text.startswith('{"tables"'):
            tables = json.loads(text)["tables"]
            if not isinstance(tables, dict):
                raise ValueError(f"not a webCRM cursor: {text[:80]!r}")
            return cls({str(k): str(v) for k, v in tables.items()})
        FeedCursor.decode(text)  # a bare cursor must be a readable one
        return cls({first: text})


def same_start(cursor: str) -> str:
    """A cursor that starts where ``cursor`` does and remembers no rows: the start of another
    table read alongside (its rows are not the ones ``cursor`` remembers)."""
    return FeedCursor(FeedCursor.decode(cursor).at).encode()


def feed_start(cursor: str, table: str) -> datetime:
    """The instant a stored webCRM cursor says nothing of ``table`` before it is new (less no
    overlap). A cursor that holds no part for ``table`` starts it where its first part starts.

    Raises:
        ValueError: the text is not such a cursor.
    """
    parts = TableCursors.decode(cursor, table).tables
    part = parts.get(table) or next(iter(parts.values()), None)
    if part is None:
        raise ValueError("a webCRM cursor without any table")
    return FeedCursor.decode(part).at


@dataclass
class FeedRead(Generic[T]):
    """The rows of one read that are new, and the cursor for the next."""

    rows: list[T]
    next_cursor: str | None


async def read_changes(
    client: WebcrmClient,
    cursor: str | None,
    everything: Callable[[], AsyncIterator[T]],
    changed_since: Callable[[datetime], AsyncIterator[T]],
    *,
    overlap: timedelta = DEFAULT_OVERLAP,
    now: Callable[[], datetime] = utcnow,
    skip_seen: bool = True,
) -> FeedRead[T]:
    """Read the rows of ``kind`` changed since ``cursor`` (every row when it is ``None``).

    Args:
        client: the webCRM client (its clock is webCRM's, from the answers' ``Date``).
        cursor: a stored cursor, or ``None`` for a full read.
        everything: every row, for a full read.
        changed_since: the rows updated at or after a time less ``overlap``.
        overlap: how far before the cursor the read starts.
        now: our clock (only to place the read on webCRM's).
        skip_seen: drop rows the cursor remembers; off when a row can change without its
            update time moving (a delivery's lines, where they cannot be read as a table).

    Returns:
        The rows not already handled, and the cursor to store once they are.
    """
    started = now()
    previous = None if cursor is None else FeedCursor.decode(cursor)
    source = everything() if previous is None else changed_since(previous.at)
    rows: list[T] = []
    listed: list[T] = []
    async for row in source:
        listed.append(row)
        if skip_seen and previous is not None and previous.seen.get(row.id) == row.updated_at:
            continue  # handled already, unchanged since: its partner need not be read
        rows.append(row)
    newest = max((r.updated_at for r in listed if r.updated_at is not None), default=None)
    server_start = client.server_time(started)
    candidates = [
        t for t in (newest, server_start, previous.at if previous else None) if t is not None
    ]
    if not candidates:
        return FeedRead(rows, cursor)
    # Without webCRM's clock (no ``Date``), only its own timestamps move the cursor.
    at = max(candidates)
    since = at - overlap
    settled = (server_start or at) - SETTLE
    seen: dict[int, datetime] = {}
    for row in listed:
        if row.updated_at is not None and since <= row.updated_at <= settled:
            if len(seen) >= MAX_REMEMBERED:
                break
            seen[row.id] = row.updated_at
    return FeedRead(rows, FeedCursor(at, seen).encode())
