"""What the long-running service keeps beside the sync state.

- **Tokens** (``tokens``): one encrypted blob per tenant and system; this module only stores and
  returns ciphertext, the key and the cipher live in :mod:`webcrm_fortnox.service.vault`.
- **Service state** (``service_state``): small JSON values per tenant and key: when the next cycle
  is due, whether the tenant is paused and why, the last propagation lag, the change feed's
  offsets (under a pseudo-tenant ``feed:<client id>``).
- **Schedules** (``tenant_schedules``): per tenant, when ``run`` syncs it next, its failures
  and backoff, and whether it is paused, so that a restarted ``run`` carries on.
- **Counts** for ``status``: links and open errors per entity, open conflicts.

Every write is one transaction, so a token rotation or an offset is stored whole or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from webcrm_fortnox.engine.ports import ErrorState
from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.sql import upsert
from webcrm_fortnox.store.state import INTERRUPTED, RUNNING, StateDatabase


@dataclass(frozen=True)
class StoredSecret:
    """An encrypted token blob and when it was written."""

    ciphertext: str
    updated_at: datetime


@dataclass(frozen=True)
class EntityCounts:
    """Per entity of one tenant: linked pairs, records with an open error by error kind, and
    records excluded by configuration."""

    linked: int
    failing: Mapping[str, int]
    excluded: int = 0


@dataclass(frozen=True)
class Schedule:
    """When a tenant syncs next, as ``run`` keeps it in the store.

    Attributes:
        next_cycle_at: when its next scheduled cycle is due.
        next_full_at: when its next full reconciliation is due.
        failures: its failing syncs in a row.
        retry_at: when the backoff after those lets it try again.
        paused: its state while paused (``reconnect needed``, ``not connected``), else ``None``.
        paused_by: who or what paused it.
        paused_reason: why.
        paused_tokens: the version of its credentials (its settings and stored tokens) when it
            paused: others resume it.
    """

    next_cycle_at: datetime | None = None
    next_full_at: datetime | None = None
    failures: int = 0
    retry_at: datetime | None = None
    paused: str | None = None
    paused_by: str | None = None
    paused_reason: str | None = None
    paused_tokens: str | None = None


_SCHEDULE_FIELDS = tuple(field.name for field in fields(Schedule))


class ServiceStore:
    """The service's tables in a :class:`StateDatabase` (shared by every tenant)."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    # tokens -----------------------------------------------------------------------------------

    async def secret(self, tenant: str, system: str) -> StoredSecret | None:
        """The encrypted tokens of ``tenant`` on ``system``, if any were stored."""
        query = sa.select(t.tokens).where(t.tokens.c.tenant == tenant, t.tokens.c.system == system)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else StoredSecret(row.ciphertext, row.updated_at)

    async def save_secret(self, tenant: str, system: str, ciphertext: str) -> None:
        """Replace the encrypted tokens of ``tenant`` on ``system`` in one transaction."""
        keys = {"tenant": tenant, "system": system}
        values = {"ciphertext": ciphertext, "updated_at": self.db.clock()}
        async with self.db.begin() as conn:
            await conn.execute(upsert(conn.dialect.name, t.tokens, keys, values))

    async def delete_secret(self, tenant: str, system: str) -> None:
        async with self.db.begin() as conn:
            await conn.execute(
                sa.delete(t.tokens).where(t.tokens.c.tenant == tenant, t.tokens.c.system == system)
            )

    # service state ----------------------------------------------------------------------------

    async def values(self, tenant: str) -> dict[str, Any]:
        """Every stored value of ``tenant``, by key."""
        query = sa.select(t.service_state.c.key, t.service_state.c.value).where(
            t.service_state.c.tenant == tenant
        )
        async with self.db.engine.connect() as conn:
            return {row.key: row.value for row in await conn.execute(query)}

    async def get(self, tenant: str, key: str) -> Any:
        """One stored value, or ``None``."""
        query = sa.select(t.service_state.c.value).where(
            t.service_state.c.tenant == tenant, t.service_state.c.key == key
        )
        async with self.db.engine.connect() as conn:
            return (await conn.execute(query)).scalar()

    async def put(self, tenant: str, key: str, value: Any) -> None:
        """Store ``value`` (JSON-ready; ``None`` clears it) under ``key``."""
        await self.put_many(tenant, {key: value})

    async def put_many(self, tenant: str, values: Mapping[str, Any]) -> None:
        """Store several values of one tenant in one transaction."""
        async with self.db.begin() as conn:
            await self._put(conn, tenant, values)

    async def _put(self, conn: AsyncConnection, tenant: str, values: Mapping[str, Any]) -> None:
        now = self.db.clock()
        for key, value in values.items():
            await conn.execute(
                upsert(
                    conn.dialect.name,
                    t.service_state,
                    {"tenant": tenant, "key": key},
                    {"value": value, "updated_at": now},
                )
            )

    # schedules --------------------------------------------------------------------------------

    async def schedule(self, tenant: str) -> Schedule | None:
        """The stored schedule of ``tenant``, if ``run`` stored one."""
        query = sa.select(t.tenant_schedules).where(t.tenant_schedules.c.tenant == tenant)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return (
            None
            if row is None
            else Schedule(**{name: row._mapping[name] for name in _SCHEDULE_FIELDS})
        )

    async def save_schedule(self, tenant: str, schedule: Schedule) -> None:
        """Store the schedule of ``tenant`` (one statement)."""
        async with self.db.begin() as conn:
            await self._save_schedule(conn, tenant, schedule)

    async def _save_schedule(self, conn: AsyncConnection, tenant: str, schedule: Schedule) -> None:
        values = {name: getattr(schedule, name) for name in _SCHEDULE_FIELDS}
        values["updated_at"] = self.db.clock()
        await conn.execute(
            upsert(conn.dialect.name, t.tenant_schedules, {"tenant": tenant}, values)
        )

    async def claim(
        self, tenant: str, owner: str, seconds: float, *, instead_of: str | None = None
    ) -> bool:
        """Take the lease to sync ``tenant`` for ``seconds``; false while another owner holds
        one that has not run out (unless it is ``instead_of``, an owner known to be gone). One
        statement, so two processes never both win.

        Whoever takes the lease knows no other sync of the tenant runs: a cycle still recorded
        as running was cut short (its process was killed, its lease ran out) and is closed as
        ``interrupted`` in the same transaction.
        """
        async with self.db.begin() as conn:
            if not await self._lease(conn, tenant, owner, seconds, instead_of):
                return False
            cycles = t.cycles.c
            await conn.execute(
                sa.update(t.cycles)
                .where(cycles.tenant == tenant, cycles.status == RUNNING)
                .values(
                    status=INTERRUPTED,
                    finished_at=self.db.clock(),
                    message="interrupted: the process syncing it ended before the cycle did",
                )
            )
            return True

    async def renew(self, tenant: str, owner: str, seconds: float) -> bool:
        """Renew ``owner``'s lease on ``tenant`` for ``seconds``; false when it was lost."""
        async with self.db.begin() as conn:
            return await self._lease(conn, tenant, owner, seconds)

    async def _lease(
        self,
        conn: AsyncConnection,
        tenant: str,
        owner: str,
        seconds: float,
        instead_of: str | None = None,
    ) -> bool:
        now = self.db.clock()
        rows = t.tenant_schedules.c
        lease = {"lease_owner": owner, "lease_until": now + timedelta(seconds=seconds)}
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
            t.tenant_schedules
        ).values(tenant=tenant, updated_at=now, **lease)
        statement = insert.on_conflict_do_update(
            index_elements=["tenant"],
            set_=lease,
            where=rows.lease_owner.is_(None)
            | rows.lease_owner.in_([owner, instead_of or owner])
            | (rows.lease_until < now),
        )
        # RETURNING names the row only when it was written (rowcount is not told reliably for
        # an upsert by every driver).
        return (await conn.execute(statement.returning(rows.tenant))).first() is not None

    async def lease_owner(self, tenant: str) -> str | None:
        """Who holds the lease on ``tenant`` (run out or not), if anyone."""
        rows = t.tenant_schedules.c
        query = sa.select(rows.lease_owner).where(rows.tenant == tenant)
        async with self.db.engine.connect() as conn:
            return (await conn.execute(query)).scalar()

    async def release(self, tenant: str, owner: str) -> None:
        """Give the lease on ``tenant`` back, if ``owner`` holds it."""
        async with self.db.begin() as conn:
            await self._release(conn, tenant, owner)

    @staticmethod
    async def _release(conn: AsyncConnection, tenant: str, owner: str) -> None:
        rows = t.tenant_schedules.c
        await conn.execute(
            sa.update(t.tenant_schedules)
            .where(rows.tenant == tenant, rows.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )

    async def finish(
        self,
        tenant: str,
        owner: str,
        schedule: Schedule | None,
        values: Mapping[str, Any],
    ) -> None:
        """After a sync: store its tenant's new ``schedule`` (``None``: unchanged) and service
        ``values``, and give ``owner``'s lease back, in one transaction."""
        async with self.db.begin() as conn:
            if schedule is not None:
                await self._save_schedule(conn, tenant, schedule)
            await self._put(conn, tenant, values)
            await self._release(conn, tenant, owner)

    # counts for status ------------------------------------------------------------------------

    async def entity_counts(self, tenant: str) -> dict[str, EntityCounts]:
        """Links, open errors and excluded records per entity of ``tenant``."""
        links = (
            sa.select(t.links.c.entity, sa.func.count())
            .where(t.links.c.tenant == tenant)
            .group_by(t.links.c.entity)
        )
        errors = (
            sa.select(
                t.record_errors.c.entity,
                t.record_errors.c.kind,
                sa.func.count(sa.distinct(t.record_errors.c.record_id)),
            )
            .where(
                t.record_errors.c.tenant == tenant,
                t.record_errors.c.state == ErrorState.OPEN.value,
            )
            .group_by(t.record_errors.c.entity, t.record_errors.c.kind)
        )
        excluded = (
            sa.select(t.excluded_records.c.entity, sa.func.count())
            .where(t.excluded_records.c.tenant == tenant)
            .group_by(t.excluded_records.c.entity)
        )
        async with self.db.engine.connect() as conn:
            linked = {row[0]: int(row[1]) for row in await conn.execute(links)}
            excluding = {row[0]: int(row[1]) for row in await conn.execute(excluded)}
            failing: dict[str, dict[str, int]] = {}
            for entity, kind, count in await conn.execute(errors):
                failing.setdefault(entity, {})[kind] = int(count)
        return {
            entity: EntityCounts(
                linked.get(entity, 0), failing.get(entity, {}), excluding.get(entity, 0)
            )
            for entity in sorted(set(linked) | set(failing) | set(excluding))
        }

    async def open_conflicts(self, tenant: str) -> dict[str, int]:
        """Conflicts waiting for a person, per entity."""
        query = (
            sa.select(t.conflicts.c.entity, sa.func.count())
            .where(t.conflicts.c.tenant == tenant, t.conflicts.c.resolved_at.is_(None))
            .group_by(t.conflicts.c.entity)
        )
        async with self.db.engine.connect() as conn:
            return {row[0]: int(row[1]) for row in await conn.execute(query)}
