"""A tenant's token row, locked for the length of a refresh-token rotation.

Fortnox refresh tokens are single-use: when two processes refresh one tenant at once, the one
that sends the token second is refused (``invalid_grant``) and the tenant would have to connect
again. Holding the row lock while reading the newest token, refreshing and storing the rotation
makes them take turns: the second finds the first's fresh token under the lock and uses it.

On PostgreSQL the lock is ``SELECT … FOR UPDATE`` on the row. SQLite has no row locks; a no-op
``UPDATE`` of the row takes the database's write lock instead, which other writers wait for
(``busy_timeout``), and which is held until the transaction ends, as the row lock is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.state import StateDatabase


class LockedToken:
    """The newest stored ciphertext of one token row, and a way to replace it under the lock.

    Attributes:
        ciphertext: what was stored when the lock was taken (``None``: nothing yet).
    """

    def __init__(
        self,
        conn: AsyncConnection,
        db: StateDatabase,
        tenant: str,
        system: str,
        ciphertext: str | None,
    ) -> None:
        self._conn = conn
        self._db = db
        self._tenant = tenant
        self._system = system
        self.ciphertext = ciphertext

    async def save(self, ciphertext: str) -> None:
        """Replace the row's ciphertext; committed when the lock is released."""
        values = {"ciphertext": ciphertext, "updated_at": self._db.clock()}
        if self.ciphertext is None:
            await self._conn.execute(
                sa.insert(t.tokens).values(tenant=self._tenant, system=self._system, **values)
            )
        else:
            await self._conn.execute(
                sa.update(t.tokens).where(_row(self._tenant, self._system)).values(**values)
            )
        self.ciphertext = ciphertext


def _row(tenant: str, system: str) -> sa.ColumnElement[bool]:
    return (t.tokens.c.tenant == tenant) & (t.tokens.c.system == system)


@asynccontextmanager
async def locked_token(db: StateDatabase, tenant: str, system: str) -> AsyncIterator[LockedToken]:
    """Lock the token row of ``tenant`` on ``system`` until the block ends, then commit.

    An error inside the block rolls back what it saved and releases the lock.
    """
    async with db.engine.begin() as conn:
        query = sa.select(t.tokens.c.ciphertext).where(_row(tenant, system))
        if conn.dialect.name == "sqlite":
            touch = sa.update(t.tokens).where(_row(tenant, system))
            await conn.execute(touch.values(updated_at=t.tokens.c.updated_at))
        else:
            query = query.with_for_update()
        ciphertext = (await conn.execute(query)).scalar()
        yield LockedToken(conn, db, tenant, system, ciphertext)
