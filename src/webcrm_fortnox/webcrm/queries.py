"""Building ``/Queries`` scripts that a record's content can never change.

webCRM's ``GET /Queries?script=`` takes an SQL-like text. Values that come from records (an
organisation name, a customer number typed by a user) end up inside that text, so they are only
ever written as literals: strings in single quotes with every quote doubled (recorded: a
production flow sends ``PersonEmail = 'o''brien@x.dk'``), numbers as numbers, timestamps as
quoted ISO strings. Table and field names are never taken from data: tables come from a fixed
list and a field must be an identifier that starts with its table's prefix.

Example::

    Query("Organisation").where("OrganisationExtraCustom8", "=", "10042").script
    # SELECT * FROM Organisation WHERE OrganisationExtraCustom8 = '10042'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal

# recorded: tables are singular and case-insensitive; LinkedData columns start "LinkedDataItem".
# QuotationLine is not a recorded table (see webcrm.models.QUOTATION_LINE): its reader copes with
# a 400.
TABLE_PREFIXES: Mapping[str, str] = MappingProxyType(
    {
        "Organisation": "Organisation",
        "Person": "Person",
        "Delivery": "Delivery",
        "QuotationLine": "QuotationLine",
        "Opportunity": "Opportunity",
        "Activity": "Activity",
        "LinkedData": "LinkedDataItem",
    }
)

Operator = Literal["=", ">=", ">", "<", "<="]
OPERATORS: frozenset[str] = frozenset({"=", ">=", ">", "<", "<="})
Value = str | int | float | datetime

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def quote(value: Value) -> str:
    """``value`` as a literal of the query language.

    Strings are single-quoted with quotes doubled; numbers are written bare; timestamps (which
    must be timezone-aware) are written in UTC as .NET's round-trip format, the form the vendor's
    own integration sends (``'2018-06-01T10:00:00.0000000Z'``).

    Raises:
        ValueError: for booleans, non-finite numbers, naive timestamps and strings holding a NUL
            character, none of which has a safe literal.
    """
    if isinstance(value, bool):
        raise ValueError("booleans have no literal in webCRM queries; compare with a string")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} has no literal in webCRM queries")
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a query timestamp must be timezone-aware")
        utc = value.astimezone(UTC)
        return "'" + utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z'"
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a query string cannot hold a NUL character")
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"cannot write {type(value).__name__} into a webCRM query")


def table_name(table: str) -> str:
    """The canonical spelling of ``table``, checked against the known tables."""
    for known in TABLE_PREFIXES:
        if known.lower() == table.lower():
            return known
    raise ValueError(f"unknown webCRM query table {table!r}; known: {', '.join(TABLE_PREFIXES)}")


def check_field(table: str, name: str) -> str:
    """``name`` if it is a plain identifier of ``table`` (``OrganisationName``), else an error."""
    prefix = TABLE_PREFIXES[table_name(table)]
    if not _IDENTIFIER.fullmatch(name) or not name.lower().startswith(prefix.lower()):
        raise ValueError(f"{name!r} is not a field of webCRM table {table}")
    return name


@dataclass(frozen=True)
class Condition:
    """``field op value``; built only through :meth:`Query.where`, which checks all three."""

    field: str
    op: str
    value: Value

    def render(self) -> str:
        return f"{self.field} {self.op} {quote(self.value)}"


@dataclass(frozen=True)
class AnyOf:
    """``(field = v1 OR field = v2 …)``; built only through :meth:`Query.where_any`."""

    field: str
    values: tuple[Value, ...]

    def render(self) -> str:
        return "(" + " OR ".join(f"{self.field} = {quote(v)}" for v in self.values) + ")"


@dataclass(frozen=True)
class Query:
    """``SELECT * FROM <table> [WHERE ... AND ...] [ORDER BY <field> ASC|DESC]``, immutable.

    Every method returns a new query, so a base query can be shared and narrowed.
    """

    table: str
    conditions: tuple[Condition | AnyOf, ...] = ()
    order: tuple[str, str] | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", table_name(self.table))

    def where(self, name: str, op: Operator, value: Value) -> Query:
        """Add ``name op value``, joined to the others with ``AND``."""
        if op not in OPERATORS:
            raise ValueError(f"unsupported operator {op!r}; use one of {sorted(OPERATORS)}")
        quote(value)  # fail now, not when the script is rendered
        condition = Condition(check_field(self.table, name), op, value)
        return Query(self.table, (*self.conditions, condition), self.order)

    def where_any(self, name: str, values: tuple[Value, ...]) -> Query:
        """Add ``(name = v1 OR name = v2 …)`` (recorded: S1 groups ORs in parentheses), joined
        to the others with ``AND``."""
        if not values:
            raise ValueError("where_any needs at least one value")
        for value in values:
            quote(value)
        condition = AnyOf(check_field(self.table, name), tuple(values))
        return Query(self.table, (*self.conditions, condition), self.order)

    def order_by(self, name: str, direction: Literal["ASC", "DESC"] = "ASC") -> Query:
        """Sort by ``name``."""
        if direction not in ("ASC", "DESC"):
            raise ValueError("direction must be ASC or DESC")
        return Query(self.table, self.conditions, (check_field(self.table, name), direction))

    @property
    def script(self) -> str:
        """The text for ``GET /Queries?script=``."""
        parts = [f"SELECT * FROM {self.table}"]
        if self.conditions:
            parts.append("WHERE " + " AND ".join(c.render() for c in self.conditions))
        if self.order is not None:
            parts.append(f"ORDER BY {self.order[0]} {self.order[1]}")
        return " ".join(parts)

    def __str__(self) -> str:
        return self.script
