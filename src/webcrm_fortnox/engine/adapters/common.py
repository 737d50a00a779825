"""What the adapters share: the stored form of change cursors and of canonical values."""

from __future__ import annotations

from datetime import UTC, datetime

from webcrm_fortnox.engine.ports import Fields


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


def text_values(fields: Fields) -> dict[str, str | None]:
    """Canonical values as the customer mappings take them: text, ``None`` for blank."""
    return {name: None if value in (None, "") else str(value) for name, value in fields.items()}
