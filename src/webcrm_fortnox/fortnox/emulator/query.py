"""List queries: ``limit``/``page``/``offset``, ``sortby``/``sortorder``, ``filter``,
``lastmodified`` and field search, with the ``MetaInformation`` envelope (reference §4).

Choices where the reference is silent: ``limit`` above 500 is clamped to 500; a ``page`` past the
end answers an empty list; ``offset`` skips records before paging and ``@TotalResources`` still
counts all matches; an unknown query parameter or a malformed value answers 2000588.

``lastmodified`` is read as Europe/Stockholm local time with minute precision and is inclusive: a
record changed at 12:30:59 matches ``lastmodified=2026-03-01 12:30``. Each stored record carries
its modification time (``_modified``, POSIX seconds from the emulated clock).

Each request makes one pass over the records plus a sort of the matches: no quadratic work, and
only the requested page is rendered.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from webcrm_fortnox.fortnox.emulator import errors
from webcrm_fortnox.fortnox.emulator.topics import STOCKHOLM

Record = dict[str, Any]
Predicate = Callable[[Record], bool]
# a ``filter`` value's test: (record, today as YYYY-MM-DD in Stockholm) → match?
Filter = Callable[[Record, str], bool]

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
PAGING = frozenset({"limit", "page", "offset", "sortby", "sortorder", "filter", "lastmodified"})
_LASTMODIFIED = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")


@dataclass(frozen=True)
class ListRules:
    """What one resource's list endpoint accepts.

    Attributes:
        search: query parameter → stored field searched (case-insensitive substring).
        sort: ``sortby`` value → stored field.
        default_sort: the field sorted by when no ``sortby`` is given.
        filters: ``filter`` value → predicate.
        exact: query parameters compared exactly instead of by substring (dates, flags).
        lastmodified: whether ``lastmodified`` is accepted (not on currencies, reference §4).
    """

    search: Mapping[str, str]
    sort: Mapping[str, str]
    default_sort: str
    filters: Mapping[str, Filter] = field(default_factory=dict)
    exact: Mapping[str, str] = field(default_factory=dict)
    ranges: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    lastmodified: bool = True


@dataclass
class Page:
    items: list[Record]
    total: int
    pages: int
    current: int

    def meta(self) -> dict[str, int]:
        # recorded: customers/search_miss.yml — no match gives pages 0, current page 1
        return {
            "@TotalResources": self.total,
            "@TotalPages": self.pages,
            "@CurrentPage": self.current,
        }


def sort_key(value: Any) -> tuple[int, float, str]:
    """Numbers in number order, then text: "9" before "10", as Fortnox sorts its number series."""
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, bool):
        return (1, float(value), "")
    if isinstance(value, int | float):
        return (1, float(value), "")
    text = str(value)
    try:
        return (1, float(text), "")
    except ValueError:
        return (2, 0.0, text.casefold())


def _integer(params: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.invalid(errors.INVALID_PARAMETER) from None
    if value < minimum:
        raise errors.invalid(errors.INVALID_PARAMETER)
    return value


def parse_lastmodified(text: str) -> float:
    """``YYYY-MM-DD[ HH:MM[:SS]]`` in Stockholm time → POSIX seconds at the start of its minute."""
    match = _LASTMODIFIED.fullmatch(text.strip())
    if match is None:
        raise errors.invalid(errors.INVALID_PARAMETER)
    day, hour, minute, _seconds = match.groups()
    try:
        moment = datetime.fromisoformat(f"{day}T{hour or '00'}:{minute or '00'}:00")
    except ValueError:
        raise errors.invalid(errors.INVALID_PARAMETER) from None
    return moment.replace(tzinfo=STOCKHOLM).timestamp()


def select(
    records: Iterable[Record], params: Mapping[str, str], rules: ListRules, today: str = ""
) -> Page:
    """Apply a list request's parameters to a resource's records.

    Raises:
        FortnoxError: 400 with 2000587 for an unknown filter, 2000588 for a bad parameter.
    """
    predicates: list[Predicate] = []
    for name, raw in params.items():
        if name in PAGING:
            continue
        if name in rules.search:
            predicates.append(_contains(rules.search[name], raw))
        elif name in rules.exact:
            predicates.append(_equals(rules.exact[name], raw))
        elif name in rules.ranges:
            predicates.append(_within(*rules.ranges[name], raw))
        else:
            raise errors.invalid(errors.INVALID_PARAMETER)
    if "filter" in params:
        chosen = rules.filters.get(params["filter"].lower())
        if chosen is None:
            # recorded: invoices/filter_invalid.yml
            raise errors.invalid(errors.INVALID_FILTER)
        predicates.append(lambda r: chosen(r, today))
    if "lastmodified" in params:
        if not rules.lastmodified:
            raise errors.invalid(errors.INVALID_PARAMETER)
        since = parse_lastmodified(params["lastmodified"])
        # minute precision: a change anywhere within the given minute counts
        predicates.append(lambda r: math.floor(r.get("_modified", 0.0) / 60) * 60 >= since)

    limit = min(_integer(params, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
    page = _integer(params, "page", 1, 1)
    offset = _integer(params, "offset", 0, 0)
    sortby = params.get("sortby")
    if sortby is not None and sortby.lower() not in rules.sort:
        raise errors.invalid(errors.INVALID_PARAMETER)
    order = params.get("sortorder", "ascending").lower()
    if order not in ("ascending", "descending"):
        raise errors.invalid(errors.INVALID_PARAMETER)

    matches = [r for r in records if all(p(r) for p in predicates)]
    key = rules.sort[sortby.lower()] if sortby else rules.default_sort
    matches.sort(key=lambda r: sort_key(r.get(key)), reverse=order == "descending")
    remaining = matches[offset:]
    start = (page - 1) * limit
    return Page(
        items=remaining[start : start + limit],
        total=len(matches),
        pages=math.ceil(len(remaining) / limit),
        current=page,
    )


def _contains(field_name: str, needle: str) -> Predicate:
    folded = needle.casefold()

    def match(record: Record) -> bool:
        value = record.get(field_name)
        return value is not None and folded in str(value).casefold()

    return match


def _equals(field_name: str, wanted: str) -> Predicate:
    folded = wanted.casefold()

    def match(record: Record) -> bool:
        value = record.get(field_name)
        if isinstance(value, bool):
            return str(value).casefold() == folded
        return value is not None and str(value).casefold() == folded

    return match


def _within(field_name: str, bound: str, value: str) -> Predicate:
    if bound == "from":
        return lambda r: (r.get(field_name) or "") >= value
    return lambda r: bool(r.get(field_name)) and str(r.get(field_name)) <= value
