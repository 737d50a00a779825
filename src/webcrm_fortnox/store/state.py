"""The SQL state store: one database for many tenants, one :class:`TenantState` per tenant."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from webcrm_fortnox.engine.ports import (
    Conflict,
    ConflictReport,
    ErrorKind,
    ErrorReport,
    ErrorState,
    Intent,
    IntentState,
    Link,
    MatchDecision,
    MatchVerdict,
    Policy,
    RecordError,
    RunRecord,
    System,
    utcnow,
)
from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.database import create_engine, migrate
from webcrm_fortnox.store.sql import Writer, upsert

Clock = Callable[[], datetime]


#: A cycle that has not ended (it runs, or its process ended without recording the end).
RUNNING = "running"
#: A cycle whose process ended before it did, closed by the next process to sync the tenant.
INTERRUPTED = "interrupted"
#: The ``service_state`` key of a tenant's health.
HEALTH = "health"


@dataclass(frozen=True)
class CycleRecord:
    """One sync of a tenant (every entity), as the store keeps it.

    Attributes:
        id: its id, increasing with time.
        trigger: what started it (``cycle``, ``fortnox feed``, ``once``, ``retry``, …).
        mode: ``incremental``, ``full`` or ``retry``.
        status: ``running``, ``completed`` (records may have failed), ``stopped``, or
            ``interrupted`` (its process ended before it did).
        started_at: when it started.
        finished_at: when it ended (``None`` while running).
        counts: per entity, records by outcome.
        message: why it stopped, when it did.
    """

    id: int
    trigger: str
    mode: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    counts: Mapping[str, Mapping[str, int]]
    message: str | None


@dataclass(frozen=True)
class ExclusionChange:
    """A record found excluded by configuration (with why), or found otherwise (no longer).

    Attributes:
        entity: its entity.
        webcrm_id: its webCRM id, when known.
        fortnox_id: its Fortnox id, when known.
        excluded: whether it is excluded now.
        reason: why, when it is.
    """

    entity: str
    webcrm_id: str | None
    fortnox_id: str | None
    excluded: bool
    reason: str | None = None


_CYCLE_FIELDS = tuple(field.name for field in fields(CycleRecord))

# The reads every run makes, built once: building a statement costs more CPU than SQLite takes
# to answer it (about 0.2 ms of a read's 0.6), and a cycle makes a few dozen.
_TENANT: sa.BindParameter[str] = sa.bindparam("tenant")
_ENTITY: sa.BindParameter[str] = sa.bindparam("entity")
_CURSOR = sa.select(t.cursors.c.value).where(
    t.cursors.c.tenant == _TENANT,
    t.cursors.c.system == sa.bindparam("system"),
    t.cursors.c.entity == _ENTITY,
)
_LINKS = (
    sa.select(t.links)
    .where(t.links.c.tenant == _TENANT, t.links.c.entity == _ENTITY)
    .order_by(t.links.c.id)
)
_PENDING_INTENTS = (
    sa.select(t.intents)
    .where(
        t.intents.c.tenant == _TENANT,
        t.intents.c.entity == _ENTITY,
        t.intents.c.state == IntentState.PENDING.value,
    )
    .order_by(t.intents.c.id)
)
_MATCH_DECISIONS = (
    sa.select(t.match_decisions)
    .where(t.match_decisions.c.tenant == _TENANT, t.match_decisions.c.entity == _ENTITY)
    .order_by(t.match_decisions.c.decided_at)
)


class StateDatabase:
    """The state database shared by every tenant of one deployment.

    Open it with :meth:`open` (which migrates to the newest schema), hand out per-tenant views
    with :meth:`tenant`, and :meth:`close` it at shutdown.
    """

    def __init__(self, engine: AsyncEngine, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock
        self._writer = Writer(engine)

    def begin(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A transaction that writes (one at a time in this process on SQLite); commits on
        leaving, rolls back on an error."""
        return self._writer.begin()

    @classmethod
    async def open(
        cls, url: str, *, schema: str | None = None, clock: Clock = utcnow
    ) -> StateDatabase:
        """Connect to ``url`` and run the migrations.

        Args:
            url: ``sqlite:///path.db`` or ``postgresql+psycopg://user@host/db``.
            schema: PostgreSQL only: the schema holding the tables (created when missing).
            clock: the source of timestamps written to rows (tests pass a fixed one).
        """
        engine = create_engine(url, schema=schema)
        try:
            await migrate(engine, schema=schema)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, clock=clock)

    def tenant(self, name: str) -> TenantState:
        """The state of one tenant (a :class:`~webcrm_fortnox.engine.ports.StateStore`)."""
        return TenantState(self, name)

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> StateDatabase:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None, "an insert into a table with an id column returns the id"
    return int(key[0])


def cycle_row(row: sa.Row[Any]) -> CycleRecord:
    """A ``cycles`` row as a :class:`CycleRecord`."""
    return CycleRecord(**{name: row._mapping[name] for name in _CYCLE_FIELDS})


async def save_match_decision(conn: AsyncConnection, tenant: str, decision: MatchDecision) -> None:
    """Store (or replace) a decision on a pair, in ``conn``'s transaction."""
    pair = {
        "tenant": tenant,
        "entity": decision.entity,
        "webcrm_id": decision.webcrm_id,
        "fortnox_id": decision.fortnox_id,
    }
    values = {
        "verdict": decision.verdict.value,
        "key": decision.key,
        "decided_at": decision.decided_at,
    }
    await conn.execute(upsert(conn.dialect.name, t.match_decisions, pair, values))


def _link(row: sa.Row[Any]) -> Link:
    return Link(
        id=row.id,
        entity=row.entity,
        webcrm_id=row.webcrm_id,
        fortnox_id=row.fortnox_id,
        base=row.base,
        updated_at=row.updated_at,
        held=bool(row.held),
    )


def _intent(row: sa.Row[Any]) -> Intent:
    return Intent(
        id=row.id,
        entity=row.entity,
        target=row.target,
        key=row.key,
        source_id=row.source_id,
        payload=row.payload,
        state=IntentState(row.state),
        created_at=row.created_at,
    )


def error_row(row: sa.Row[Any]) -> RecordError:
    """A ``record_errors`` row as a :class:`RecordError`."""
    return RecordError(
        id=row.id,
        entity=row.entity,
        system=row.system,
        record_id=row.record_id,
        field=row.field,
        vendor_code=row.vendor_code,
        vendor_message=row.vendor_message,
        reason=row.reason,
        attempts=row.attempts,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        state=ErrorState(row.state),
        kind=ErrorKind(row.kind),
        name=row.name,
    )


def conflict_row(row: sa.Row[Any]) -> Conflict:
    """A ``conflicts`` row as a :class:`Conflict`."""
    return Conflict(
        id=row.id,
        entity=row.entity,
        link_id=row.link_id,
        webcrm_id=row.webcrm_id,
        fortnox_id=row.fortnox_id,
        report=ConflictReport(
            field=row.field,
            webcrm_value=row.webcrm_value,
            fortnox_value=row.fortnox_value,
            base_value=row.base_value,
            policy=Policy(row.policy),
            resolution=row.resolution,
        ),
        created_at=row.created_at,
        resolved_at=row.resolved_at,
    )


class TenantState:
    """The state of one tenant in a :class:`StateDatabase`; implements ``StateStore``.

    Every method runs in its own transaction and commits before returning.
    """

    def __init__(self, db: StateDatabase, tenant: str) -> None:
        self.db = db
        self.tenant = tenant

    def _now(self) -> datetime:
        return self.db.clock()

    # links ------------------------------------------------------------------------------------

    async def links(self, entity: str) -> list[Link]:
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(_LINKS, {"tenant": self.tenant, "entity": entity})
            return [_link(row) for row in rows]

    async def link_for(self, entity: str, system: System, record_id: str) -> Link | None:
        column = t.links.c.webcrm_id if system == "webcrm" else t.links.c.fortnox_id
        query = sa.select(t.links).where(
            t.links.c.tenant == self.tenant, t.links.c.entity == entity, column == record_id
        )
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _link(row)

    async def save_link(
        self,
        entity: str,
        webcrm_id: str,
        fortnox_id: str,
        base: Mapping[str, Any],
        *,
        intent_id: int | None = None,
        conflicts: Sequence[ConflictReport] = (),
        resolve_errors: bool = True,
        held: bool = False,
    ) -> Link:
        now = self._now()
        mine = (t.links.c.tenant == self.tenant) & (t.links.c.entity == entity)
        async with self.db.begin() as conn:
            # A record is linked to at most one partner: an older pairing of either id goes.
            await conn.execute(
                sa.delete(t.links).where(
                    mine,
                    ((t.links.c.webcrm_id == webcrm_id) & (t.links.c.fortnox_id != fortnox_id))
                    | ((t.links.c.fortnox_id == fortnox_id) & (t.links.c.webcrm_id != webcrm_id)),
                )
            )
            # With those gone, a row of this webCRM id can only be this very pair.
            keys = {"tenant": self.tenant, "entity": entity, "webcrm_id": webcrm_id}
            values = {"fortnox_id": fortnox_id, "base": dict(base), "updated_at": now, "held": held}
            await conn.execute(upsert(conn.dialect.name, t.links, keys, values))
            row = (
                await conn.execute(sa.select(t.links).where(mine, t.links.c.webcrm_id == webcrm_id))
            ).one()
            link = _link(row)
            if intent_id is not None:
                await self._finish_intent(conn, intent_id, IntentState.DONE, now)
            await self._insert_conflicts(conn, entity, link, conflicts, now)
            if resolve_errors:
                for system, record_id in (("webcrm", webcrm_id), ("fortnox", fortnox_id)):
                    await self._resolve_errors(conn, entity, system, record_id, now)
        return link

    async def hold_link(self, entity: str, link_id: int) -> None:
        async with self.db.begin() as conn:
            await conn.execute(
                sa.update(t.links)
                .where(
                    t.links.c.tenant == self.tenant,
                    t.links.c.entity == entity,
                    t.links.c.id == link_id,
                )
                .values(held=True)
            )

    async def unlink(self, entity: str, link_id: int) -> None:
        now = self._now()
        async with self.db.begin() as conn:
            await conn.execute(
                sa.delete(t.links).where(
                    t.links.c.tenant == self.tenant,
                    t.links.c.entity == entity,
                    t.links.c.id == link_id,
                )
            )
            await conn.execute(
                sa.update(t.conflicts)
                .where(
                    t.conflicts.c.tenant == self.tenant,
                    t.conflicts.c.link_id == link_id,
                    t.conflicts.c.resolved_at.is_(None),
                )
                .values(resolved_at=now)
            )

    # cursors ----------------------------------------------------------------------------------

    async def cursor(self, system: System, entity: str) -> str | None:
        keys = {"tenant": self.tenant, "system": system, "entity": entity}
        async with self.db.engine.connect() as conn:
            value: str | None = (await conn.execute(_CURSOR, keys)).scalar()
        return value

    async def set_cursor(self, system: System, entity: str, value: str | None) -> None:
        async with self.db.begin() as conn:
            await self._set_cursor(conn, system, entity, value, self._now())

    async def _set_cursor(
        self, conn: AsyncConnection, system: System, entity: str, value: str | None, now: datetime
    ) -> None:
        keys = {"tenant": self.tenant, "system": system, "entity": entity}
        values = {"value": value, "updated_at": now}
        await conn.execute(upsert(conn.dialect.name, t.cursors, keys, values))

    # intents ----------------------------------------------------------------------------------

    async def add_intent(
        self, entity: str, target: System, key: str, source_id: str, payload: Mapping[str, Any]
    ) -> Intent:
        now = self._now()
        async with self.db.begin() as conn:
            result = await conn.execute(
                sa.insert(t.intents).values(
                    tenant=self.tenant,
                    entity=entity,
                    target=target,
                    key=key,
                    source_id=source_id,
                    payload=dict(payload),
                    state=IntentState.PENDING.value,
                    created_at=now,
                )
            )
            intent_id = _new_id(result)
        return Intent(
            id=intent_id,
            entity=entity,
            target=target,
            key=key,
            source_id=source_id,
            payload=dict(payload),
            state=IntentState.PENDING,
            created_at=now,
        )

    async def pending_intents(self, entity: str) -> list[Intent]:
        keys = {"tenant": self.tenant, "entity": entity}
        async with self.db.engine.connect() as conn:
            return [_intent(row) for row in await conn.execute(_PENDING_INTENTS, keys)]

    async def finish_intent(self, intent_id: int, state: IntentState) -> None:
        async with self.db.begin() as conn:
            await self._finish_intent(conn, intent_id, state, self._now())

    async def _finish_intent(
        self, conn: AsyncConnection, intent_id: int, state: IntentState, now: datetime
    ) -> None:
        await conn.execute(
            sa.update(t.intents)
            .where(t.intents.c.tenant == self.tenant, t.intents.c.id == intent_id)
            .values(state=state.value, finished_at=now)
        )

    # per-record errors ------------------------------------------------------------------------

    async def record_error(self, report: ErrorReport) -> RecordError:
        now = self._now()
        values = {
            "field": report.field,
            "vendor_code": report.vendor_code,
            "vendor_message": report.vendor_message,
            "reason": report.reason,
            "kind": report.kind.value,
            "last_seen": now,
            "name": report.name,
        }
        where = self._error_where(report.entity, report.system, report.record_id)
        async with self.db.begin() as conn:
            row = (await conn.execute(sa.select(t.record_errors).where(where))).first()
            if row is None:
                result = await conn.execute(
                    sa.insert(t.record_errors).values(
                        tenant=self.tenant,
                        entity=report.entity,
                        system=report.system,
                        record_id=report.record_id,
                        attempts=1,
                        first_seen=now,
                        state=ErrorState.OPEN.value,
                        **values,
                    )
                )
                error_id = _new_id(result)
            else:
                error_id = row.id
                await conn.execute(
                    sa.update(t.record_errors)
                    .where(t.record_errors.c.id == error_id)
                    .values(attempts=t.record_errors.c.attempts + 1, **values)
                )
            stored = (
                await conn.execute(
                    sa.select(t.record_errors).where(t.record_errors.c.id == error_id)
                )
            ).one()
        return error_row(stored)

    async def open_errors(self, entity: str | None = None) -> list[RecordError]:
        query = sa.select(t.record_errors).where(
            t.record_errors.c.tenant == self.tenant,
            t.record_errors.c.state == ErrorState.OPEN.value,
        )
        if entity is not None:
            query = query.where(t.record_errors.c.entity == entity)
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(query.order_by(t.record_errors.c.id))
            return [error_row(row) for row in rows]

    async def resolve_errors(self, entity: str, system: System, record_id: str) -> None:
        async with self.db.begin() as conn:
            await self._resolve_errors(conn, entity, system, record_id, self._now())

    def _error_where(self, entity: str, system: str, record_id: str) -> sa.ColumnElement[bool]:
        return sa.and_(
            t.record_errors.c.tenant == self.tenant,
            t.record_errors.c.entity == entity,
            t.record_errors.c.system == system,
            t.record_errors.c.record_id == record_id,
            t.record_errors.c.state == ErrorState.OPEN.value,
        )

    async def _resolve_errors(
        self, conn: AsyncConnection, entity: str, system: str, record_id: str, now: datetime
    ) -> None:
        await conn.execute(
            sa.update(t.record_errors)
            .where(self._error_where(entity, system, record_id))
            .values(state=ErrorState.RESOLVED.value, last_seen=now)
        )

    # conflicts --------------------------------------------------------------------------------

    async def add_conflicts(
        self, entity: str, link: Link, conflicts: Sequence[ConflictReport]
    ) -> None:
        async with self.db.begin() as conn:
            await self._insert_conflicts(conn, entity, link, conflicts, self._now())

    async def _insert_conflicts(
        self,
        conn: AsyncConnection,
        entity: str,
        link: Link,
        conflicts: Sequence[ConflictReport],
        now: datetime,
    ) -> None:
        if not conflicts:
            return
        # A field's newest conflict supersedes the open ones before it: they name values the
        # field no longer holds, and left open they would pass a later return to those values
        # for a conflict already recorded (the planner skips conflicts still open). Closed
        # without a resolution, as when a pair is unlinked; their values stay on record.
        await conn.execute(
            sa.update(t.conflicts)
            .where(
                t.conflicts.c.tenant == self.tenant,
                t.conflicts.c.link_id == link.id,
                t.conflicts.c.field.in_(sorted({c.field for c in conflicts})),
                t.conflicts.c.resolved_at.is_(None),
            )
            .values(resolved_at=now)
        )
        await conn.execute(
            sa.insert(t.conflicts),
            [
                {
                    "tenant": self.tenant,
                    "entity": entity,
                    "link_id": link.id,
                    "webcrm_id": link.webcrm_id,
                    "fortnox_id": link.fortnox_id,
                    "field": c.field,
                    "webcrm_value": c.webcrm_value,
                    "fortnox_value": c.fortnox_value,
                    "base_value": c.base_value,
                    "policy": c.policy.value,
                    "resolution": c.resolution,
                    # A conflict a policy settled is recorded already resolved.
                    "resolved_at": None if c.resolution is None else now,
                    "created_at": now,
                }
                for c in conflicts
            ],
        )

    async def conflicts(
        self, entity: str | None = None, *, open_only: bool = False
    ) -> list[Conflict]:
        query = sa.select(t.conflicts).where(t.conflicts.c.tenant == self.tenant)
        if entity is not None:
            query = query.where(t.conflicts.c.entity == entity)
        if open_only:
            query = query.where(t.conflicts.c.resolved_at.is_(None))
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(query.order_by(t.conflicts.c.id))
            return [conflict_row(row) for row in rows]

    async def resolve_conflict(self, conflict_id: int, resolution: System) -> None:
        async with self.db.begin() as conn:
            await conn.execute(
                sa.update(t.conflicts)
                .where(t.conflicts.c.tenant == self.tenant, t.conflicts.c.id == conflict_id)
                .values(resolution=resolution, resolved_at=self._now())
            )

    # match decisions --------------------------------------------------------------------------

    async def save_match_decision(
        self, entity: str, webcrm_id: str, fortnox_id: str, verdict: MatchVerdict, key: str
    ) -> None:
        decision = MatchDecision(entity, webcrm_id, fortnox_id, verdict, key, self._now())
        async with self.db.begin() as conn:
            await save_match_decision(conn, self.tenant, decision)

    async def match_decisions(self, entity: str) -> list[MatchDecision]:
        keys = {"tenant": self.tenant, "entity": entity}
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(_MATCH_DECISIONS, keys)
            return [
                MatchDecision(
                    entity=row.entity,
                    webcrm_id=row.webcrm_id,
                    fortnox_id=row.fortnox_id,
                    verdict=MatchVerdict(row.verdict),
                    key=row.key,
                    decided_at=row.decided_at,
                )
                for row in rows
            ]

    # run log ----------------------------------------------------------------------------------

    async def start_run(self, mode: str, entity: str | None = None) -> int:
        async with self.db.begin() as conn:
            result = await conn.execute(
                sa.insert(t.runs).values(
                    tenant=self.tenant,
                    entity=entity,
                    mode=mode,
                    status="running",
                    started_at=self._now(),
                    counts={},
                )
            )
            return _new_id(result)

    async def finish_run(
        self,
        run_id: int,
        status: str,
        counts: Mapping[str, int],
        message: str | None = None,
        *,
        entity: str | None = None,
        cursors: Mapping[System, str | None] | None = None,
    ) -> None:
        if cursors and entity is None:
            raise ValueError("cursors are an entity's: name it")
        now = self._now()
        async with self.db.begin() as conn:
            for system, value in (cursors or {}).items():
                assert entity is not None
                await self._set_cursor(conn, system, entity, value, now)
            await conn.execute(
                sa.update(t.runs)
                .where(t.runs.c.tenant == self.tenant, t.runs.c.id == run_id)
                .values(status=status, counts=dict(counts), message=message, finished_at=now)
            )

    async def runs(self, limit: int = 20) -> list[RunRecord]:
        query = (
            sa.select(t.runs)
            .where(t.runs.c.tenant == self.tenant)
            .order_by(t.runs.c.id.desc())
            .limit(limit)
        )
        async with self.db.engine.connect() as conn:
            return [
                RunRecord(
                    id=row.id,
                    mode=row.mode,
                    status=row.status,
                    started_at=row.started_at,
                    finished_at=row.finished_at,
                    counts=row.counts,
                    message=row.message,
                    entity=row.entity,
                )
                for row in await conn.execute(query)
            ]

    # cycles -----------------------------------------------------------------------------------

    async def start_cycle(self, trigger: str, mode: str) -> int:
        """Record the start of one sync of the tenant (all its entities); returns its id."""
        async with self.db.begin() as conn:
            result = await conn.execute(
                sa.insert(t.cycles).values(
                    tenant=self.tenant,
                    trigger=trigger,
                    mode=mode,
                    status=RUNNING,
                    started_at=self._now(),
                    counts={},
                )
            )
            return _new_id(result)

    async def finish_cycle(
        self,
        cycle_id: int,
        status: str,
        counts: Mapping[str, Mapping[str, int]],
        message: str | None,
        health: Mapping[str, str | None] | None,
    ) -> None:
        """Record how a cycle ended and, unless ``health`` is ``None``, the tenant's health
        after it, in one transaction."""
        now = self._now()
        async with self.db.begin() as conn:
            await conn.execute(
                sa.update(t.cycles)
                .where(t.cycles.c.tenant == self.tenant, t.cycles.c.id == cycle_id)
                .values(
                    status=status,
                    finished_at=now,
                    counts={entity: dict(n) for entity, n in counts.items()},
                    message=message,
                )
            )
            if health is not None:
                keys = {"tenant": self.tenant, "key": HEALTH}
                values = {"value": dict(health), "updated_at": now}
                await conn.execute(upsert(conn.dialect.name, t.service_state, keys, values))

    async def cycles(
        self, limit: int = 20, *, status: str | None = None, ended: bool = False
    ) -> list[CycleRecord]:
        """The tenant's newest cycles, newest first.

        Args:
            limit: how many at most.
            status: only those with this status (``running``: those not ended).
            ended: only those that ended.
        """
        query = sa.select(t.cycles).where(t.cycles.c.tenant == self.tenant)
        if status is not None:
            query = query.where(t.cycles.c.status == status)
        if ended:
            query = query.where(t.cycles.c.status != RUNNING)
        query = query.order_by(t.cycles.c.id.desc()).limit(limit)
        async with self.db.engine.connect() as conn:
            return [cycle_row(row) for row in await conn.execute(query)]

    # excluded records -------------------------------------------------------------------------

    async def record_exclusions(self, changes: Sequence[ExclusionChange]) -> None:
        """Apply ``changes`` in order, in one transaction: a record found is first dropped by
        either of its ids (it may have been excluded under one alone), then kept if excluded.

        A change that would leave the rows as they are is not written: a record excluded in
        every cycle (an article read with the whole register) costs one read, not a delete and
        an insert each time."""
        if not changes:
            return
        rows = t.excluded_records.c
        entities = sorted({change.entity for change in changes})
        query = sa.select(rows.entity, rows.webcrm_id, rows.fortnox_id, rows.reason).where(
            rows.tenant == self.tenant, rows.entity.in_(entities)
        )
        async with self.db.engine.connect() as conn:
            kept = {tuple(row) for row in await conn.execute(query)}
        writes = [change for change in changes if _exclusion_applied(kept, change)]
        if not writes:
            return
        now = self._now()
        async with self.db.begin() as conn:
            for change in writes:
                same = [
                    column == record_id
                    for column, record_id in (
                        (rows.webcrm_id, change.webcrm_id),
                        (rows.fortnox_id, change.fortnox_id),
                    )
                    if record_id
                ]
                if same:
                    await conn.execute(
                        sa.delete(t.excluded_records).where(
                            rows.tenant == self.tenant, rows.entity == change.entity, sa.or_(*same)
                        )
                    )
                if change.excluded:
                    await conn.execute(
                        sa.insert(t.excluded_records).values(
                            tenant=self.tenant,
                            entity=change.entity,
                            webcrm_id=change.webcrm_id,
                            fortnox_id=change.fortnox_id,
                            reason=change.reason,
                            updated_at=now,
                        )
                    )


_Exclusion = tuple[str, str | None, str | None, str | None]


def _exclusion_applied(kept: set[_Exclusion], change: ExclusionChange) -> bool:
    """Apply ``change`` to ``kept`` (entity, webCRM id, Fortnox id, reason of each row) as the
    store applies it; whether that changed anything."""
    # the row's columns holding each id of the change: a row matching either goes, as above
    ids = ((1, change.webcrm_id), (2, change.fortnox_id))
    dropped = {
        row
        for row in kept
        if row[0] == change.entity and any(value and row[column] == value for column, value in ids)
    }
    added = (
        {(change.entity, change.webcrm_id, change.fortnox_id, change.reason)}
        if change.excluded
        else set()
    )
    if dropped == added:
        return False
    kept -= dropped
    kept |= added
    return True
