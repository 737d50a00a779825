"""SQL the store's modules share: one-statement upserts, and one writer at a time on SQLite."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def upsert(
    dialect: str, table: sa.Table, keys: Mapping[str, Any], values: Mapping[str, Any]
) -> sa.Executable:
    """``INSERT … ON CONFLICT (keys) DO UPDATE SET values``: one statement, so two processes
    writing the same row never race an update against an insert.

    Args:
        dialect: the connection's dialect name (``sqlite`` or ``postgresql``).
        table: the table.
        keys: the columns of its primary key or of a unique constraint, with their values.
        values: the other columns to write.
    """
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    statement = insert.values(**keys, **values)
    return statement.on_conflict_do_update(index_elements=list(keys), set_=dict(values))


class Writer:
    """Transactions that write, one at a time in this process when the backend is SQLite.

    SQLite lets one writer in at a time; the others poll its lock until ``busy_timeout`` and
    then fail, in no particular order, so that at a few hundred tenants some waited longer than
    the timeout. Queued here in order instead, each writer gets the lock at once; the busy
    timeout is left to writers in other processes. PostgreSQL writes concurrently.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._serial = engine.dialect.name == "sqlite"
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def _lock(self) -> asyncio.Lock:
        # One lock per event loop: a database object may outlive the loop that first used it.
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            self._locks = {
                known: held for known, held in self._locks.items() if not known.is_closed()
            }
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction that commits on leaving (rolls back on an error)."""
        if not self._serial:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._lock(), self.engine.begin() as conn:
            yield conn
