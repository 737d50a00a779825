"""The tenant registry's rows: tenants kept in the state store instead of the TOML file.

A row holds a tenant's ``[[tenant]]`` table without its secrets, the secrets as ciphertext (the
cipher lives in :mod:`webcrm_fortnox.service.vault`), its state and a version that every change
bumps. Removing a tenant only marks its row: its links, cursors and run history stay until
:meth:`TenantRegistry.purge`, so removing the wrong tenant loses nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.state import StateDatabase

#: Names per ``IN (…)`` when rows are read by name.
_SLICE = 500


class TenantState(enum.StrEnum):
    """Whether a registered tenant runs."""

    ACTIVE = "active"
    #: kept, not synced, until resumed
    PAUSED = "paused"
    #: not synced; its history is kept until purged
    REMOVED = "removed"


@dataclass(frozen=True)
class TenantRow:
    """One registered tenant as stored.

    Attributes:
        name: the tenant's name.
        settings: its ``[[tenant]]`` table without the secrets.
        secrets: the ciphertext of its secrets.
        state: whether it runs.
        reason: why it is paused or removed, when someone said.
        version: bumped by every change of the row.
        created_at: when it was first registered.
        updated_at: when the row last changed.
    """

    name: str
    settings: Mapping[str, Any]
    secrets: str
    state: TenantState
    reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewTenant:
    """What registering a tenant stores: its settings and the ciphertext of its secrets."""

    name: str
    settings: Mapping[str, Any]
    secrets: str


class RegistryOutcome(enum.StrEnum):
    """What registering did with one tenant."""

    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def _row(row: sa.Row[Any]) -> TenantRow:
    return TenantRow(
        name=row.name,
        settings=row.settings,
        secrets=row.secrets,
        state=TenantState(row.state),
        reason=row.reason,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class TenantRegistry:
    """The ``tenants`` table of a :class:`StateDatabase`."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    async def rows(self, *, removed: bool = False) -> list[TenantRow]:
        """Every registered tenant by name; with ``removed``, removed ones too."""
        query = sa.select(t.tenants).order_by(t.tenants.c.name)
        if not removed:
            query = query.where(t.tenants.c.state != TenantState.REMOVED.value)
        async with self.db.engine.connect() as conn:
            return [_row(row) for row in await conn.execute(query)]

    async def versions(self) -> dict[str, tuple[TenantState, int]]:
        """The state and version of every registered tenant (removed ones too), by name: what
        a running service compares each poll, without reading the settings."""
        query = sa.select(t.tenants.c.name, t.tenants.c.state, t.tenants.c.version)
        async with self.db.engine.connect() as conn:
            return {
                name: (TenantState(state), version)
                for name, state, version in await conn.execute(query)
            }

    async def rows_named(self, names: Sequence[str]) -> list[TenantRow]:
        """The rows of these tenants (those registered), by name."""
        wanted = sorted(names)
        rows: list[TenantRow] = []
        async with self.db.engine.connect() as conn:
            # In slices: SQLite limits the parameters of one statement.
            for start in range(0, len(wanted), _SLICE):
                names_in = t.tenants.c.name.in_(wanted[start : start + _SLICE])
                query = sa.select(t.tenants).where(names_in).order_by(t.tenants.c.name)
                rows.extend(_row(row) for row in await conn.execute(query))
        return rows

    async def row(self, name: str) -> TenantRow | None:
        """The tenant called ``name`` (removed or not), if registered."""
        query = sa.select(t.tenants).where(t.tenants.c.name == name)
        async with self.db.engine.connect() as conn:
            found = (await conn.execute(query)).first()
        return None if found is None else _row(found)

    async def register(
        self, tenants: Sequence[NewTenant], *, update: bool
    ) -> dict[str, RegistryOutcome]:
        """Add ``tenants`` in one transaction (all or none).

        Args:
            tenants: the tenants to store.
            update: replace the settings and secrets of tenants already registered (their state
                is kept); otherwise a name already registered is an error.

        Raises:
            TenantExistsError: without ``update``, a name is registered already (nothing stored).
        """
        now = self.db.clock()
        outcomes: dict[str, RegistryOutcome] = {}
        async with self.db.engine.begin() as conn:
            names = [tenant.name for tenant in tenants]
            query = sa.select(t.tenants).where(t.tenants.c.name.in_(names)).with_for_update()
            existing = {row.name: _row(row) for row in await conn.execute(query)}
            if existing and not update:
                raise TenantExistsError(sorted(existing))
            for tenant in tenants:
                old = existing.get(tenant.name)
                values = {"settings": dict(tenant.settings), "secrets": tenant.secrets}
                if old is None:
                    await conn.execute(
                        sa.insert(t.tenants).values(
                            name=tenant.name,
                            state=TenantState.ACTIVE.value,
                            version=1,
                            created_at=now,
                            updated_at=now,
                            **values,
                        )
                    )
                    outcomes[tenant.name] = RegistryOutcome.ADDED
                else:
                    await self._bump(conn, tenant.name, now, **values)
                    outcomes[tenant.name] = RegistryOutcome.UPDATED
        return outcomes

    async def set_state(self, name: str, state: TenantState, reason: str | None) -> bool:
        """Pause, resume or remove ``name``; false when no such tenant is registered.

        Removing it also forgets what the change feed announced for it and its membership of
        the feed's subscription: nothing syncs those any more, and should it come back, its
        first sync lists every change (the feed no longer vouches for it).
        """
        async with self.db.engine.begin() as conn:
            found = await self._bump(conn, name, self.db.clock(), state=state.value, reason=reason)
            if found and state is TenantState.REMOVED:
                for table in (t.feed_announcements, t.feed_members):
                    await conn.execute(sa.delete(table).where(table.c.tenant == name))
            return found

    async def purge(self, name: str) -> None:
        """Delete ``name``'s row and every row of its history, in every table."""
        async with self.db.engine.begin() as conn:
            for table in t.metadata.sorted_tables:
                if "tenant" in table.c:
                    await conn.execute(sa.delete(table).where(table.c.tenant == name))
            await conn.execute(sa.delete(t.tenants).where(t.tenants.c.name == name))

    @staticmethod
    async def _bump(conn: AsyncConnection, name: str, now: datetime, **values: Any) -> bool:
        statement = (
            sa.update(t.tenants)
            .where(t.tenants.c.name == name)
            .values(version=t.tenants.c.version + 1, updated_at=now, **values)
        )
        return bool((await conn.execute(statement)).rowcount)


class TenantExistsError(LookupError):
    """Tenants of these names are registered already."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        super().__init__(", ".join(self.names))
