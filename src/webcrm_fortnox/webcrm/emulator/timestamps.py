"""Timestamps as webCRM writes them: Copenhagen local time with its offset, to the second.

The wire form is not documented. The vendor is Danish and its recorded samples show ``+02:00`` in
June, so the emulator writes server-local Copenhagen time with the offset
(``2018-06-28T08:32:53+02:00``). A date that was never set is .NET's ``DateTime.MinValue``, written
without an offset (``0001-01-01T00:00:00``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
UNSET = "0001-01-01T00:00:00"
_MIN_AWARE = datetime.min.replace(tzinfo=UTC)


def format_time(when: datetime) -> str:
    """``when`` as webCRM writes it (Copenhagen local time with offset, whole seconds)."""
    return when.astimezone(COPENHAGEN).replace(microsecond=0).isoformat()


def parse_time(text: str) -> datetime | None:
    """An aware datetime from any ISO-8601 form webCRM or its clients use.

    A value without an offset is read as Copenhagen local time (the server's own). ``.NET``'s
    seven-digit fractions and ``Z`` are accepted.

    Returns:
        The instant, or ``None`` for the unset value (year 1).

    Raises:
        ValueError: ``text`` is not an ISO-8601 date or date-time.
    """
    text = text.strip()
    if len(text) == 10:
        parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
    else:
        parsed = datetime.fromisoformat(text)
    if parsed.year == 1:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=COPENHAGEN)
    return parsed


def sort_key(text: str) -> datetime:
    """A comparable instant for a stored timestamp; unset sorts first."""
    parsed = parse_time(text) if text else None
    return _MIN_AWARE if parsed is None else parsed
