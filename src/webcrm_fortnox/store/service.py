"""What the long-running service keeps beside the sync state.

- **Tokens** (``tokens``): one encrypted blob per tenant and system; this module only stores and
  returns ciphertext, the key and the cipher live in :mod:`webcrm_fortnox.service.vault`.
- **Service state** (``service_state``): small JSON values per tenant and key: when the next cycle
  is due, whether the tenant is paused and why, the last propagation lag, the change feed's
  offsets (under a pseudo-tenant ``feed:<client id>``).
- **Schedules** (``tenant_schedules``): per tenant, when ``run`` syncs it next, its failures
  and backoff, and whether it is paused, so that a restarted ``run`` carries on.

Every write is one transaction, so a token rotation or an offset is stored whole or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.sql import upsert
from webcrm_fortnox.store.state import StateDatabase


@dataclass(frozen=True)
class StoredSecret:
    """An encrypted token blob and when it was written."""

    ciphertext: str
    updated_at: datetime


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
        paused_tokens: the version of its stored tokens when it paused: new ones resume it.
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
        now = self.db.clock()
        async with self.db.begin() as conn:
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
        values = {name: getattr(schedule, name) for name in _SCHEDULE_FIELDS}
        values["updated_at"] = self.db.clock()
        async with self.db.begin() as conn:
            await conn.execute(
                upsert(conn.dialect.name, t.tenant_schedules, {"tenant": tenant}, values)
            )

    async def claim(self, tenant: str, owner: str, seconds: float) -> bool:
        """Take (or renew) the lease to sync ``tenant`` for ``seconds``; false while another
        owner holds one that has not run out. One statement, so two processes never both win.
        """
        now = self.db.clock()
        rows = t.tenant_schedules.c
        lease = {"lease_owner": owner, "lease_until": now + timedelta(seconds=seconds)}
        insert = (
            postgresql.insert if self.db.engine.dialect.name == "postgresql" else sqlite.insert
        )(t.tenant_schedules).values(tenant=tenant, updated_at=now, **lease)
        statement = insert.on_conflict_do_update(
            index_elements=["tenant"],
            set_=lease,
            where=rows.lease_owner.is_(None)
            | (rows.lease_owner == owner)
            | (rows.lease_until < now),
        )
        async with self.db.begin() as conn:
            # RETURNING names the row only when it was written (rowcount is not told reliably
            # for an upsert by every driver).
            return (await conn.execute(statement.returning(rows.tenant))).first() is not None

    async def release(self, tenant: str, owner: str) -> None:
        """Give the lease on ``tenant`` back, if ``owner`` holds it."""
        rows = t.tenant_schedules.c
        async with self.db.begin() as conn:
            await conn.execute(
                sa.update(t.tenant_schedules)
                .where(rows.tenant == tenant, rows.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )
