"""What the adapters share: the stored form of change cursors and of canonical values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from webcrm_fortnox.engine.ports import Fields
from webcrm_fortnox.transport.errors import ValidationError


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
