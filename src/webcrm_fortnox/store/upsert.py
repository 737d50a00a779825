"""One-statement upserts (``INSERT … ON CONFLICT DO UPDATE``) on SQLite and PostgreSQL alike.

An update-then-insert is two statements, which two processes can race; this is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def upsert(
    conn: AsyncConnection,
    table: sa.Table,
    keys: Mapping[str, Any],
    values: Mapping[str, Any],
    *,
    updates: Mapping[str, Any] | None = None,
) -> None:
    """Insert the row of ``keys`` (the table's primary key) with ``values``, or, when it
    exists, set ``updates`` on it (default: ``values``; expressions may use the row's columns,
    e.g. ``table.c.version + 1``)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(table).values(**keys, **values)
    await conn.execute(
        insert.on_conflict_do_update(
            index_elements=[table.c[name] for name in keys],
            set_=dict(values if updates is None else updates),
        )
    )
