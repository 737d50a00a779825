"""``GET /Queries?script=…``: the SQL-like read endpoint integrations use for "changed since".

The supported subset (reference §7)::

    SELECT (* | column [, column …]) FROM <table> [alias]
      [WHERE <condition>] [ORDER BY column [ASC|DESC] [, …]]

    condition  := term [OR term …];  term := factor [AND factor …]
    factor     := NOT factor | ( condition ) | column (= | <> | != | < | <= | > | >=) literal
                | column [NOT] LIKE 'pattern'

Tables are ``Organisation``, ``Person``, ``Delivery``, ``QuotationLine`` and ``LinkedData`` (the
product register, whose columns are named ``LinkedDataItem…``), matched case-insensitively like
columns. Literals are single-quoted strings (``''`` is a quote) or numbers; a literal is only ever
a value, so no content can change the query. Text compares case-insensitively, date-times as
instants (a literal without offset is Copenhagen time), enums by name or by number. Rows come in
id order unless ordered, and are paged after filtering. Anything else (JOIN, GROUP BY, functions,
column-to-column comparisons) is answered with a 400 naming what is not supported.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from webcrm_fortnox.webcrm.emulator.collection import page_of
from webcrm_fortnox.webcrm.emulator.deliveries import DELIVERIES
from webcrm_fortnox.webcrm.emulator.dto import LINKED_DATA_ITEM, DtoSpec, FieldSpec, Record
from webcrm_fortnox.webcrm.emulator.errors import bad_request
from webcrm_fortnox.webcrm.emulator.kinds import EntityKind
from webcrm_fortnox.webcrm.emulator.linked_data import LINKED_DATA
from webcrm_fortnox.webcrm.emulator.linked_data import PREFIX as ITEM_PREFIX
from webcrm_fortnox.webcrm.emulator.organisations import ORGANISATIONS
from webcrm_fortnox.webcrm.emulator.persons import PERSONS
from webcrm_fortnox.webcrm.emulator.quotation_lines import QUOTATION_LINES
from webcrm_fortnox.webcrm.emulator.routing import SystemDep, paging, query_param
from webcrm_fortnox.webcrm.emulator.system import System
from webcrm_fortnox.webcrm.emulator.timestamps import parse_time, sort_key

Row = dict[str, Any]
Predicate = Callable[[Row], bool]


class QueryError(Exception):
    """A script the emulator cannot run; the message says why (answered as a 400)."""


# --- tables -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryTable:
    """What a ``FROM`` name reads: an entity, seen through ``columns`` (renamed for LinkedData)."""

    name: str
    kind: EntityKind
    columns: DtoSpec
    renames: dict[str, str] = field(default_factory=dict)

    def row(self, record: Record) -> Row:
        if not self.renames:
            return record
        return {self.renames.get(k, k): v for k, v in record.items()}


_LINKED_RENAMES = {
    f.name: "LinkedDataItem" + f.name.removeprefix(ITEM_PREFIX) for f in LINKED_DATA_ITEM.fields
}
_LINKED_COLUMNS = DtoSpec(
    "LinkedDataItemDto",
    tuple(
        FieldSpec(_LINKED_RENAMES[f.name], f.kind, f.max_length, f.enum, f.unset)
        for f in LINKED_DATA_ITEM.fields
    ),
)
TABLES = {
    t.name.lower(): t
    for t in (
        QueryTable("Organisation", ORGANISATIONS, ORGANISATIONS.dto),
        QueryTable("Person", PERSONS, PERSONS.dto),
        QueryTable("Delivery", DELIVERIES, DELIVERIES.dto),
        QueryTable("QuotationLine", QUOTATION_LINES, QUOTATION_LINES.dto),
        QueryTable("LinkedData", LINKED_DATA, _LINKED_COLUMNS, _LINKED_RENAMES),
    )
}

# --- tokens -------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><>|!=|<=|>=|=|<|>)
      | (?P<punct>[(),.*])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"select", "from", "where", "and", "or", "not", "like", "order", "by", "asc", "desc"}
_UNSUPPORTED = {
    "join",
    "inner",
    "left",
    "right",
    "outer",
    "cross",
    "group",
    "having",
    "union",
    "top",
    "limit",
    "offset",
    "distinct",
    "in",
    "between",
    "is",
    "null",
    "exists",
    "case",
    "insert",
    "update",
    "delete",
    "drop",
}


@dataclass(frozen=True)
class Token:
    kind: str  # string, number, op, punct, word, end
    text: str

    @property
    def value(self) -> str:
        """A string literal's content (quotes removed, ``''`` read as one quote)."""
        return self.text[1:-1].replace("''", "'") if self.kind == "string" else self.text


def tokenize(script: str) -> list[Token]:
    """Split ``script`` into tokens.

    Raises:
        QueryError: an unterminated string or a character the grammar does not use.
    """
    tokens: list[Token] = []
    position = 0
    while script[position:].strip():
        match = _TOKEN.match(script, position)
        if match is None or match.lastgroup is None:
            at = position + len(script[position:]) - len(script[position:].lstrip())
            if script[at] == "'":
                raise QueryError(f"Unterminated string literal at position {at}.")
            raise QueryError(f"Unexpected character {script[at]!r} at position {at}.")
        tokens.append(Token(match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    tokens.append(Token("end", ""))
    return tokens


# --- syntax -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    qualifier: str | None
    name: str


@dataclass(frozen=True)
class Comparison:
    column: Column
    op: str
    literal: Token


@dataclass(frozen=True)
class Like:
    column: Column
    pattern: str
    negated: bool


@dataclass(frozen=True)
class Junction:
    op: str  # "and" | "or"
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Negation:
    part: Condition


Condition = Comparison | Like | Junction | Negation


@dataclass(frozen=True)
class Query:
    columns: tuple[Column, ...] | None  # None: SELECT *
    table: str
    alias: str | None
    where: Condition | None
    order: tuple[tuple[Column, bool], ...]  # (column, descending)


class _Parser:
    def __init__(self, script: str) -> None:
        self.tokens = tokenize(script)
        self.at = 0

    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def is_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text.lower() in words

    def expect_word(self, word: str) -> None:
        if not self.is_word(word):
            self.fail(f"expected {word.upper()}")
        self.take()

    def fail(self, what: str) -> None:
        token = self.peek()
        if token.kind == "word" and token.text.lower() in _UNSUPPORTED:
            raise QueryError(
                f"{token.text.upper()} is not supported by /Queries here; supported: SELECT … "
                "FROM <table> [WHERE …] [ORDER BY …]."
            )
        found = "the end of the script" if token.kind == "end" else repr(token.text)
        raise QueryError(f"Syntax error: {what}, found {found}.")

    def identifier(self) -> str:
        token = self.peek()
        if token.kind != "word" or token.text.lower() in _KEYWORDS | _UNSUPPORTED:
            self.fail("expected a name")
        return self.take().text

    def column(self) -> Column:
        first = self.identifier()
        if self.peek().text == ".":
            self.take()
            return Column(first, self.identifier())
        return Column(None, first)

    def parse(self) -> Query:
        self.expect_word("select")
        columns: tuple[Column, ...] | None
        if self.peek().text == "*":
            self.take()
            columns = None
        else:
            found = [self.column()]
            while self.peek().text == ",":
                self.take()
                found.append(self.column())
            columns = tuple(found)
        self.expect_word("from")
        table = self.identifier()
        alias = (
            self.identifier()
            if self.peek().kind == "word" and not self.is_word(*_KEYWORDS, *_UNSUPPORTED)
            else None
        )
        where = None
        if self.is_word("where"):
            self.take()
            where = self.condition()
        order: list[tuple[Column, bool]] = []
        if self.is_word("order"):
            self.take()
            self.expect_word("by")
            while True:
                column = self.column()
                descending = self.is_word("desc")
                if self.is_word("asc", "desc"):
                    self.take()
                order.append((column, descending))
                if self.peek().text != ",":
                    break
                self.take()
        if self.peek().kind != "end":
            self.fail("expected the end of the script")
        return Query(columns, table, alias, where, tuple(order))

    def condition(self) -> Condition:
        parts = [self.term()]
        while self.is_word("or"):
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else Junction("or", tuple(parts))

    def term(self) -> Condition:
        parts = [self.factor()]
        while self.is_word("and"):
            self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else Junction("and", tuple(parts))

    def factor(self) -> Condition:
        if self.is_word("not"):
            self.take()
            return Negation(self.factor())
        if self.peek().text == "(":
            self.take()
            inner = self.condition()
            if self.peek().text != ")":
                self.fail("expected ')'")
            self.take()
            return inner
        column = self.column()
        negated = self.is_word("not")
        if negated:
            self.take()
        if self.is_word("like"):
            self.take()
            if self.peek().kind != "string":
                self.fail("expected a quoted pattern after LIKE")
            return Like(column, self.take().value, negated)
        if negated:
            self.fail("expected LIKE after NOT")
        if self.peek().kind != "op":
            self.fail("expected a comparison operator")
        op = self.take().text
        literal = self.peek()
        if literal.kind == "word":
            raise QueryError(
                f"Comparing {column.name} with {literal.text!r}: only quoted strings and numbers "
                "can be compared with (no other columns, NULL or functions)."
            )
        if literal.kind not in ("string", "number"):
            self.fail("expected a quoted string or a number")
        return Comparison(column, op, self.take())


def parse(script: str) -> Query:
    """The syntax tree of ``script``.

    Raises:
        QueryError: what the script does that the supported subset does not allow.
    """
    return _Parser(script).parse()


# --- evaluation ---------------------------------------------------------------------------

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _text_key(value: Any) -> str:
    return str(value).casefold()


def _number_key(value: Any) -> float:
    return float(value)


class _Compiler:
    def __init__(self, table: QueryTable, query: Query) -> None:
        self.table = table
        self.names = {table.name.lower()} | ({query.alias.lower()} if query.alias else set())

    def field(self, column: Column) -> FieldSpec:
        if column.qualifier is not None and column.qualifier.lower() not in self.names:
            raise QueryError(f"Unknown table or alias {column.qualifier!r}.")
        spec = self.table.columns.lookup(column.name)
        if spec is None:
            raise QueryError(f"Unknown column {column.name!r} in {self.table.name}.")
        return spec

    def key(self, spec: FieldSpec) -> Callable[[Any], Any]:
        """How values of ``spec`` are compared and sorted."""
        if spec.kind == "datetime":
            return lambda v: sort_key(v if isinstance(v, str) else "")
        if spec.kind in ("int", "number"):
            return _number_key
        if spec.kind == "bool":
            return bool
        if spec.kind == "enum":
            positions = {name: n for n, name in enumerate(spec.enum)}
            return lambda v: positions.get(v, -1)
        if spec.kind == "array":
            raise QueryError(f"{spec.name} cannot be compared or sorted.")
        return _text_key

    def literal(self, spec: FieldSpec, token: Token) -> Any:
        value = token.value
        try:
            if spec.kind == "datetime":
                return sort_key(value) if parse_time(value) is None else parse_time(value)
            if spec.kind in ("int", "number"):
                return float(value)
            if spec.kind == "bool":
                if value.lower() not in ("1", "0", "true", "false"):
                    raise ValueError(value)
                return value.lower() in ("1", "true")
            if spec.kind == "enum":
                if token.kind == "number":
                    return int(float(value))
                by_lower = {name.lower(): n for n, name in enumerate(spec.enum)}
                return by_lower[value.lower()]
        except (ValueError, KeyError):
            raise QueryError(f"{token.text} is not a valid value for {spec.name}.") from None
        return value.casefold()

    def compile(self, condition: Condition) -> Predicate:
        if isinstance(condition, Junction):
            parts = [self.compile(p) for p in condition.parts]
            if condition.op == "and":
                return lambda row: all(p(row) for p in parts)
            return lambda row: any(p(row) for p in parts)
        if isinstance(condition, Negation):
            inner = self.compile(condition.part)
            return lambda row: not inner(row)
        spec = self.field(condition.column)
        name = spec.name
        if isinstance(condition, Like):
            if spec.kind != "string":
                raise QueryError(f"LIKE needs a text column; {name} is not one.")
            pattern = "".join(
                ".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
                for ch in condition.pattern.casefold()
            )
            regex = re.compile(pattern, re.DOTALL)
            wanted = not condition.negated
            return lambda row: (
                (regex.fullmatch(str(row.get(name, "")).casefold()) is not None) == wanted
            )
        key, compare = self.key(spec), _OPS[condition.op]
        if spec.kind == "bool" and condition.op not in ("=", "<>", "!="):
            raise QueryError(f"{name} is a yes/no field; compare it with = or <> only.")
        right = self.literal(spec, condition.literal)
        unset = spec.unset
        return lambda row: compare(key(row.get(name, unset)), right)


def _by(key: Callable[[Any], Any], name: str) -> Callable[[Row], Any]:
    return lambda row: key(row.get(name))


def run(system: System, script: str, page: int, size: int) -> list[Row]:
    """The rows ``script`` selects from ``system``, page ``page`` of ``size``.

    Raises:
        QueryError: the script is outside the supported subset or names unknown things.
    """
    query = parse(script)
    table = TABLES.get(query.table.lower())
    if table is not None and table.kind is QUOTATION_LINES:
        table = table if system.settings.quotation_line_queries else None
    if table is None:
        raise QueryError(
            f"Unknown table {query.table!r}; supported: "
            f"{', '.join(t.name for t in TABLES.values())}."
        )
    compiler = _Compiler(table, query)
    predicate = compiler.compile(query.where) if query.where is not None else None
    columns = [compiler.field(c).name for c in query.columns] if query.columns else None
    order = [(compiler.key(compiler.field(c)), compiler.field(c).name, d) for c, d in query.order]
    collection = system.of(table.kind)
    if predicate is None and not order:
        rows = [table.row(r) for r in collection.records(page_of(collection.ids, page, size))]
    else:
        rows = [table.row(r) for r in collection.records(collection.ids)]
        if predicate is not None:
            rows = [row for row in rows if predicate(row)]
        for key, name, descending in reversed(order):
            rows.sort(key=_by(key, name), reverse=descending)
        start = (page - 1) * size
        rows = rows[start : start + size]
    if columns is None:
        return [table.columns.project(row) for row in rows]
    return [{name: row.get(name) for name in columns} for row in rows]


def router() -> APIRouter:
    routes = APIRouter(tags=["Queries"])

    @routes.get("/Queries")
    async def queries(request: Request, system: SystemDep) -> Response:
        script = query_param(request, "script")
        if not script or not script.strip():
            raise bad_request("The script parameter is required.")
        page, size = paging(request)
        try:
            return JSONResponse(run(system, script, page, size))
        except QueryError as exc:
            raise bad_request(str(exc)) from None

    return routes
