"""Copying a SQLite state store into PostgreSQL: every row of every table, ids continuing after."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.store.backends import open_database
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.copy import TargetNotEmptyError, copy_store

ROWS = 3


def _value(column: sa.Column[Any], n: int) -> Any:
    """A distinct value of ``column``'s type for row ``n`` (unique constraints hold)."""
    kind = column.type
    if isinstance(kind, t.JsonValue):
        return {"row": n, "price": Decimal(f"{n}.10"), "names": ["å", "ö"]}
    if isinstance(kind, t.UtcDateTime):
        return datetime(2026, 3, 1, 12, n, 30, 123456, tzinfo=UTC)
    if isinstance(kind, sa.Boolean):
        return n % 2 == 0
    if isinstance(kind, sa.Integer):
        return n + 1
    if isinstance(kind, sa.Float):
        return n + 0.25
    return f"{column.name}-{n}"


async def fill_every_table(db: StateDatabase) -> dict[str, list[dict[str, Any]]]:
    """``ROWS`` rows in every table of the schema, as inserted."""
    rows = {
        table.name: [{c.name: _value(c, n) for c in table.columns} for n in range(ROWS)]
        for table in t.metadata.sorted_tables
    }
    async with db.engine.begin() as conn:
        for table in t.metadata.sorted_tables:
            await conn.execute(sa.insert(table), rows[table.name])
    return rows


async def every_row(db: StateDatabase) -> dict[str, list[dict[str, Any]]]:
    async with db.engine.connect() as conn:
        return {
            table.name: sorted(
                (dict(row._mapping) for row in await conn.execute(sa.select(table))), key=repr
            )
            for table in t.metadata.sorted_tables
        }


async def test_every_row_of_every_table_is_copied_and_new_ids_follow_them(
    tmp_path: Path,
) -> None:
    async for source in open_database("sqlite", tmp_path):
        inserted = await fill_every_table(source)
        async for target in open_database("postgresql", tmp_path):
            copied = await copy_store(source, target)

            assert copied == {name: ROWS for name in inserted}
            assert await every_row(target) == await every_row(source)
            # A serial id continues after the copied ones instead of colliding with them.
            state = target.tenant("acme")
            await state.save_link("customer", "new", "new", {"name": "Ny"})
            links = await state.links("customer")
            assert max(link.id for link in links) == ROWS + 1


async def test_a_store_in_use_is_not_copied_into_and_nothing_is_written(tmp_path: Path) -> None:
    async for source in open_database("sqlite", tmp_path):
        await fill_every_table(source)
        async for target in open_database("postgresql", tmp_path):
            await target.tenant("acme").save_link("customer", "1", "1", {})

            with pytest.raises(TargetNotEmptyError) as refused:
                await copy_store(source, target)

            assert refused.value.table == "links"
            rows = await every_row(target)
            assert sum(len(table) for table in rows.values()) == 1
