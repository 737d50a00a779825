"""What the adapters share: the stored form of change cursors and of canonical values, and
what Fortnox's change feed announced."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from webcrm_fortnox.engine.ports import ChangeBatch, Fields, SourceRecord
from webcrm_fortnox.errors import ValidationError


def encode_cursor(when: datetime) -> str:
    """The stored form of ``when`` (which must be timezone-aware): ISO 8601 in UTC."""
    if when.tzinfo is None:
        raise ValueError("a cursor needs a timezone-aware datetime")
    return when.astimezone(UTC).isoformat()


def decode_cursor(cursor: str) -> datetime:
    """The instant a stored cursor names.

    Raises:
        ValueError: the text is not a cursor written by :func:`encode_cursor`.
    """
    when = datetime.fromisoformat(cursor)
    if when.tzinfo is None:
        raise ValueError(f"not a cursor: {cursor!r}")
    return when


@dataclass(frozen=True)
class Announced:
    """Every Fortnox record changed since the last read that listed changes by
    ``lastmodified``, as Fortnox's change feed announced them (the service knows when it can
    vouch for that): numbers per topic. A Fortnox source given one reads those records alone and
    keeps its cursor, so the next listing covers everything since the last one.
    """

    customers: frozenset[str] = frozenset()
    articles: frozenset[str] = frozenset()
    orders: frozenset[str] = frozenset()
    invoices: frozenset[str] = frozenset()

    @classmethod
    def of(cls, topics: Mapping[str, Iterable[str]]) -> Announced:
        """From numbers per feed topic (topics not listed here are left out)."""
        return cls(**{t: frozenset(topics.get(t, ())) for t in ANNOUNCED_TOPICS})


ANNOUNCED_TOPICS = ("customers", "articles", "orders", "invoices")


async def fortnox_changes(
    cursor: str | None,
    announced: Announced | None,
    now: Callable[[], datetime],
    *,
    read_announced: Callable[[Announced], Awaitable[list[SourceRecord]]],
    read_listed: Callable[[datetime | None, datetime], Awaitable[list[SourceRecord]]],
) -> ChangeBatch:
    """A Fortnox source's change read: the announced records, else those ``lastmodified`` lists.

    With a cursor and ``announced`` (the change feed vouches for every change since the cursor's
    read), only the announced records are read and the cursor is kept, so the next listing
    covers everything since the last one. Otherwise ``read_listed(since, started)`` reads the
    records listed as changed since the cursor (every one when ``since`` is ``None``), and the
    next cursor is ``started``, the moment before that listing began.
    """
    if cursor is not None and announced is not None:
        return ChangeBatch(records=await read_announced(announced), next_cursor=cursor)
    started = now()
    since = None if cursor is None else decode_cursor(cursor)
    records = await read_listed(since, started)
    return ChangeBatch(records=records, next_cursor=encode_cursor(started))


def text_values(fields: Fields) -> dict[str, str | None]:
    """Canonical values as the customer mappings take them: text, ``None`` for blank."""
    return {name: None if value in (None, "") else str(value) for name, value in fields.items()}


def blame_field(error: ValidationError, values: Mapping[str, str | None]) -> ValidationError:
    """Name the canonical field a rejection is about, when the vendor quoted its value.

    Fortnox quotes the offending *value*, not the field, in some messages (reference §6.2:
    "Värdet innehåller ej tillåtna tecken. (…)"); when exactly one sent field holds that value,
    it is the one to show the user. ``error`` is returned, its ``field`` set if it was unset.
    """
    message = error.vendor_message or ""
    if error.field is None and message.endswith(")") and "(" in message:
        quoted = message[message.rindex("(") + 1 : -1].strip()
        blamed = [name for name, value in values.items() if value and value.strip() == quoted]
        if len(blamed) == 1:
            error.field = blamed[0]
    return error
