"""Field specifications and the two things done with them: reading input and rendering output.

Every resource is described once, as an ordered tuple of :class:`Field` (see ``fields.py``). Input
goes through :func:`parse`, which applies Fortnox's rules for writes: unknown names are refused
(2001399), read-only names are silently ignored, ``""`` leaves a value as it is, the literal
``"API_BLANK"`` clears it, values are checked for type, length and characters and rounded where
Fortnox rounds. Output goes through :func:`render`, which lays the record out in the recorded key
order and turns into strings the numbers the real API sends as strings.

Records are stored with internal values (floats, bools, strings); keys starting with ``_`` are the
emulator's own bookkeeping (modification time) and are never rendered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any

from webcrm_fortnox.fortnox.emulator import errors

BLANK = "API_BLANK"

# Fortnox's published set of accepted characters (reference §2, "Charset"): letters, digits,
# a fixed list of punctuation, NBSP and line breaks. Anything else is refused with 2000359.
# Braces are let through too: Fortnox's own default e-mail subjects hold "{no}".
_INVALID_CHAR = re.compile(r"[^\w \u00a0\n\r–:.`´’,;^¤#%§£$€¢¥©™°&/()=+\-*_!?²³®½@{}]")
# Customer and article numbers: alphanumerics plus a few separators (reference §5.1, §5.2).
_INVALID_IDENT = re.compile(r"[^0-9A-Za-zÅÄÖåäö–+/_.\-]")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Field:
    """One property of a Fortnox entity.

    Attributes:
        name: the JSON key.
        kind: ``str``, ``int``, ``float``, ``bool``, ``date``, ``obj`` (nested ``fields``) or
            ``list`` (items with ``fields``, or raw when ``fields`` is empty).
        default: the value of a freshly created record.
        ro: read-only: ignored on input, set by the server.
        max_len: the longest accepted string.
        text: rendered as a JSON string although it is a number or boolean (recorded quirk).
        choices: accepted values, compared case-insensitively and stored as written here.
        decimals: rounded half-up to this many decimals on input.
        ident: restricted to the identifier characters of customer and article numbers.
        fields: the nested fields of an ``obj`` or of each ``list`` item.
    """

    name: str
    kind: str = "str"
    default: Any = None
    ro: bool = False
    max_len: int | None = None
    text: bool = False
    choices: tuple[str, ...] | None = None
    decimals: int | None = None
    ident: bool = False
    fields: tuple[Field, ...] = field(default=())


Spec = tuple[Field, ...]


def by_name(spec: Spec) -> dict[str, Field]:
    return {f.name: f for f in spec}


def defaults(spec: Spec) -> dict[str, Any]:
    """A new record: every field at its default (nested objects included)."""
    record: dict[str, Any] = {}
    for f in spec:
        if f.kind == "obj":
            record[f.name] = defaults(f.fields)
        elif f.kind == "list":
            record[f.name] = []
        else:
            record[f.name] = f.default
    return record


def round_half_up(value: float, decimals: int = 2) -> float:
    """Round like Fortnox (1.125 → 1.13), not like Python's banker's rounding."""
    exact = Decimal(str(value))
    if not exact.is_finite():
        return value
    with localcontext() as context:
        # Room for every digit of a large amount: the reference names no upper limit on
        # prices or quantities, so a huge one is stored, not a crash of the request.
        context.prec = max(context.prec, exact.adjusted() + decimals + 2)
        return float(exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


def parse(spec: Spec, payload: object, *, fields: dict[str, Field] | None = None) -> dict[str, Any]:
    """Check a request's entity object and return the changes it asks for.

    Args:
        spec: the entity's fields.
        payload: the object inside the envelope.
        fields: ``by_name(spec)`` when the caller has it at hand.

    Returns:
        Field name → new internal value. ``obj`` fields map to their nested changes; ``list``
        fields map to the raw list, which the resource checks itself (document rows).

    Raises:
        FortnoxError: 400 with the code of the first offending value.
    """
    if not isinstance(payload, dict):
        raise errors.invalid(errors.NO_DATA)
    known = fields if fields is not None else by_name(spec)
    changes: dict[str, Any] = {}
    for key, value in payload.items():
        f = known.get(key)
        if f is None:
            raise errors.invalid(errors.UNKNOWN_FIELD)
        if f.ro or value is None or value == "":
            # read-only names are ignored; "" never clears (recorded: save_old_with_empty_comments)
            continue
        if value == BLANK:
            changes[key] = _blank(f)
        elif f.kind == "obj":
            changes[key] = parse(f.fields, value)
        elif f.kind == "list":
            if not isinstance(value, list):
                raise errors.invalid(errors.NO_DATA)
            changes[key] = value
        else:
            try:
                changes[key] = coerce(f, value)
            except errors.FortnoxError as error:
                raise error.naming(key) from None
    return changes


def _blank(f: Field) -> Any:
    if f.kind == "str":
        return None if f.default is None else ""
    if f.kind == "obj":
        return defaults(f.fields)
    if f.kind == "list":
        return []
    return f.default


def coerce(f: Field, value: object) -> Any:
    """One scalar input value as stored, or a 400 naming what is wrong with it."""
    kind = f.kind
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise errors.invalid(errors.NOT_BOOLEAN, value=value)
    if kind in ("int", "float"):
        number = _number(value)
        if number is None:
            raise errors.invalid(errors.NOT_NUMERIC, value=value)
        if kind == "int":
            if number != int(number):
                raise errors.invalid(errors.NOT_NUMERIC, value=value)
            return int(number)
        return round_half_up(number, f.decimals) if f.decimals is not None else number
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise errors.invalid(errors.NO_DATA)
    text = value if isinstance(value, str) else _plain(value)
    if kind == "date":
        if not _DATE.fullmatch(text) or not _valid_date(text):
            raise errors.invalid(errors.NO_DATA)
        return text
    if f.max_len is not None and len(text) > f.max_len:
        raise errors.invalid(errors.TOO_LONG)
    if f.ident and _INVALID_IDENT.search(text):
        raise errors.invalid(errors.NOT_ALPHANUMERIC, value=text)
    if _INVALID_CHAR.search(text):
        raise errors.invalid(errors.INVALID_CHARACTERS, value=text)
    if f.choices is not None:
        upper = text.upper()
        for choice in f.choices:
            if choice.upper() == upper:
                return choice
        raise errors.invalid(errors.NO_DATA)
    return text


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", "."))
        except InvalidOperation:
            return None
        return float(number) if number.is_finite() else None
    return None


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _plain(number: int | float) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def merge(record: dict[str, Any], changes: dict[str, Any], spec: Spec) -> None:
    """Apply :func:`parse` output to a stored record in place (nested objects merged, lists of
    structured items such as document rows left to the resource)."""
    known = by_name(spec)
    for key, value in changes.items():
        f = known[key]
        if f.kind == "list" and f.fields:
            continue  # rows: the resource merges them by its own rules
        if f.kind == "obj" and isinstance(value, dict):
            nested = dict(record.get(key) or defaults(f.fields))
            merge(nested, value, f.fields)
            record[key] = nested
        else:
            record[key] = value


def number_out(value: Any) -> Any:
    """A stored number as Fortnox writes it: whole numbers without a decimal point.

    A whole number is written with the digits it was given (``1e30`` as a one and thirty zeros,
    the shortest decimal of the stored float), not the float's binary expansion, as a store of
    decimals would; otherwise a huge amount would read back as a different one.
    """
    if isinstance(value, float):
        if value.is_integer():
            return int(Decimal(repr(value)))
        return value
    return value


def render(spec: Spec, record: dict[str, Any]) -> dict[str, Any]:
    """The JSON object of a stored record, in the recorded key order."""
    out: dict[str, Any] = {}
    for f in spec:
        value = record.get(f.name, f.default)
        if f.kind == "obj":
            out[f.name] = render(f.fields, value or {})
        elif f.kind == "list":
            items = value or []
            out[f.name] = [render(f.fields, item) for item in items] if f.fields else list(items)
        else:
            out[f.name] = _scalar_out(f, value)
    return out


def _scalar_out(f: Field, value: Any) -> Any:
    if value is None:
        return None
    if f.kind in ("int", "float"):
        value = number_out(float(value)) if f.kind == "float" else int(value)
        return _plain(value) if f.text else value
    if f.kind == "bool" and f.text:
        return "true" if value else "false"
    return value
