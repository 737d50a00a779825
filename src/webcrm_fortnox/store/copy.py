"""Copying a whole state store into another: how a deployment moves from SQLite to PostgreSQL.

Every table of the schema is copied row for row, parents before children, from one consistent
read of the source (one transaction, a snapshot on SQLite's WAL) into one transaction of the
target, so the target holds all of it or none. The target must be empty: copying into a store
already in use would mix two histories. On PostgreSQL the id sequences are moved past the copied
ids, so the next row inserted gets a fresh one.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.state import StateDatabase

#: Rows sent to the target per statement.
BATCH = 1000


class TargetNotEmptyError(Exception):
    """The target store already holds rows (``table`` names the first such table)."""

    def __init__(self, table: str) -> None:
        self.table = table
        super().__init__(table)


async def _first_table_with_rows(conn: AsyncConnection) -> str | None:
    for table in t.metadata.sorted_tables:
        if (await conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1))).first():
            return table.name
    return None


async def copy_store(source: StateDatabase, target: StateDatabase) -> dict[str, int]:
    """Copy every row of ``source`` into the empty ``target`` (both migrated).

    Returns:
        The rows copied, by table.

    Raises:
        TargetNotEmptyError: ``target`` has rows; nothing was written.
    """
    copied: dict[str, int] = {}
    async with source.engine.connect() as reading, target.engine.begin() as writing:
        taken = await _first_table_with_rows(writing)
        if taken is not None:
            raise TargetNotEmptyError(taken)
        for table in t.metadata.sorted_tables:
            copied[table.name] = 0
            rows = await reading.stream(sa.select(table))
            async for batch in rows.partitions(BATCH):
                await writing.execute(sa.insert(table), [dict(row._mapping) for row in batch])
                copied[table.name] += len(batch)
        if writing.dialect.name == "postgresql":
            await _move_sequences(writing)
    return copied


async def _move_sequences(conn: AsyncConnection) -> None:
    """Let each serial id column's sequence continue after the largest id copied."""
    for table in t.metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is not True and not (
                column.autoincrement == "auto"
                and isinstance(column.type, sa.Integer)
                and len(table.primary_key.columns) == 1
            ):
                continue
            await conn.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                    f'COALESCE(MAX("{column.name}"), 0) + 1, false) FROM "{table.name}"'
                ),
                {"table": table.name, "column": column.name},
            )
