"""The read model: what ``status``, ``errors``, ``conflicts``, ``match`` and the admin page show.

Typed rows over the state tables, across tenants, paged (:class:`Page`), on SQLite and
PostgreSQL alike. The fleet (:meth:`ReadModel.fleet`) is one statement per page whatever the
number of tenants, plus one for the page's cycles: its filters and counts run in SQL on indexed
columns, and only the page's rows reach Python. On PostgreSQL its rows carry each tenant's
sync jobs in Procrastinate's queue (:class:`QueueState`), looked up by the tenant's lock names
on Procrastinate's own partial unique indexes.

Nothing here writes; the rows it returns are the store's own (:class:`CycleRecord`,
:class:`~webcrm_fortnox.engine.ports.RecordError`, :class:`~webcrm_fortnox.engine.ports.Conflict`)
wrapped with their tenant where a list spans tenants.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from webcrm_fortnox.engine.ports import Conflict, ErrorState, RecordError
from webcrm_fortnox.store import job_queue
from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.requests import AdminRequest, request_row
from webcrm_fortnox.store.state import (
    HEALTH,
    RUNNING,
    CycleRecord,
    StateDatabase,
    conflict_row,
    cycle_row,
    error_row,
)

T = TypeVar("T")

#: A tenant's health before any sync recorded one.
NEVER_RUN = "never run"
#: How a cycle that ran to its end is recorded (records may have failed).
COMPLETED = "completed"
#: The ``service_state`` key of a tenant's last measured propagation lag.
LAG = "lag"
#: The rows per page when the caller names no limit.
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer list.

    Attributes:
        rows: the rows of this page, in the list's order.
        total: how many rows the whole list has.
        offset: how many rows come before this page.
        limit: the most rows a page holds.
    """

    rows: Sequence[T]
    total: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        """Whether rows follow this page."""
        return self.offset + len(self.rows) < self.total


@dataclass(frozen=True)
class FleetFilter:
    """Which tenants the fleet lists (every given condition must hold).

    Attributes:
        health: only tenants of this health (``ok``, ``failing``, ``reconnect needed``, ``not
            connected``, ``never run``).
        name: only tenants whose name holds this text (any case).
        has_errors: only tenants with (true) or without (false) an open record error.
    """

    health: str | None = None
    name: str | None = None
    has_errors: bool | None = None


@dataclass(frozen=True)
class QueueState:
    """A tenant's sync jobs in the job queue that ``webcrm-fortnox worker`` processes run.

    Attributes:
        waiting: its jobs waiting for a worker (Procrastinate's ``todo``; at most one, the
            tenant's queueing lock collapses triggers into it).
        running: its jobs a worker runs now (``doing``; at most one, the tenant's lock).
        next_at: when the waiting job may start, if it waits for a time (``None``: as soon
            as a worker is free, or none waits).
    """

    waiting: int
    running: int
    next_at: datetime | None


@dataclass(frozen=True)
class TenantOverview:
    """One tenant as the fleet shows it.

    Attributes:
        name: the tenant's name.
        registered: whether it is in the tenant registry (else in the configuration file only).
        registry_state: its registry state (``active``, ``paused``), when registered.
        health: what the last sync (or the service pausing it) left: ``ok``, ``failing``,
            ``reconnect needed``, ``not connected``; ``never run`` before any.
        reason: why it is not ``ok``, in plain English.
        paused: its state while the service holds it paused (``reconnect needed``, …).
        paused_by: what paused it (``run``, ``sync --once``, ``retry``).
        paused_reason: why it was paused.
        next_cycle_at: when its next scheduled cycle is due.
        retry_at: when the backoff after failing syncs lets it try again.
        failures: its failing syncs in a row.
        late_seconds: how long a due cycle has waited (``None``: none is due, it is paused
            or syncing); a tenant whose runner is down grows late.
        syncing: whether a process holds its lease to sync it now.
        last_cycle: its newest cycle that ended.
        last_success_at: the end of its newest cycle that completed.
        open_errors: records with an open error.
        open_conflicts: conflicts waiting for a person.
        feed_live: whether Fortnox's change feed announces its changes live (``None``: it is
            in no feed).
        fortnox_tokens: whether Fortnox tokens are stored for it (an authorization-code
            tenant without them is not connected).
        lag: its last measured propagation lag (``seconds``, ``direction``, ``at``).
        queue: its sync jobs in the job queue (``None``: the store keeps no job queue, as on
            SQLite, where ``run`` syncs tenants itself).
    """

    name: str
    registered: bool
    registry_state: str | None
    health: str
    reason: str | None
    paused: str | None
    paused_by: str | None
    paused_reason: str | None
    next_cycle_at: datetime | None
    retry_at: datetime | None
    failures: int
    late_seconds: float | None
    syncing: bool
    last_cycle: CycleRecord | None
    last_success_at: datetime | None
    open_errors: int
    open_conflicts: int
    feed_live: bool | None
    fortnox_tokens: bool
    lag: Mapping[str, Any] | None
    queue: QueueState | None


@dataclass(frozen=True)
class EntityCount:
    """One entity of one tenant: records in sync, excluded, failing (by error kind), and
    conflicts waiting for a person."""

    entity: str
    in_sync: int
    excluded: int
    failing_by_kind: Mapping[str, int] = field(default_factory=dict)
    open_conflicts: int = 0

    @property
    def failing(self) -> int:
        """Records with an open error, of any kind."""
        return sum(self.failing_by_kind.values())


@dataclass(frozen=True)
class Exclusion:
    """A record that configuration excludes from the sync, and why."""

    tenant: str
    entity: str
    webcrm_id: str | None
    fortnox_id: str | None
    reason: str | None
    updated_at: datetime


@dataclass(frozen=True)
class CycleRow:
    """A cycle with its tenant."""

    tenant: str
    cycle: CycleRecord


@dataclass(frozen=True)
class ErrorRow:
    """A record error with its tenant."""

    tenant: str
    error: RecordError


@dataclass(frozen=True)
class ConflictRow:
    """A conflict with its tenant."""

    tenant: str
    conflict: Conflict


@dataclass(frozen=True)
class LagSample:
    """One measured propagation lag: how long a change took to reach the other system."""

    tenant: str
    direction: str
    seconds: float
    at: datetime


@dataclass(frozen=True)
class MatchProposal:
    """A pair ``match`` proposed, and what a person decided on it.

    Attributes:
        id: its id (``match --accept ID`` names it).
        tenant: its tenant.
        entity: its entity.
        webcrm_id: the webCRM record.
        fortnox_id: the Fortnox record.
        key: the match key that paired them.
        candidates: for ambiguous records, the group every candidate pair of that ambiguity
            shares (a person chooses among them); ``None`` for an unambiguous pair.
        webcrm_name: the webCRM record's name when proposed.
        fortnox_name: the Fortnox record's name when proposed.
        state: ``proposed``, ``accepted``, ``rejected`` or ``chosen`` (among candidates).
        proposed_at: when ``match`` last proposed it.
        decided_at: when a person decided on it.
        decided_by: who.
    """

    id: int
    tenant: str
    entity: str
    webcrm_id: str
    fortnox_id: str
    key: str
    candidates: str | None
    webcrm_name: str | None
    fortnox_name: str | None
    state: str
    proposed_at: datetime
    decided_at: datetime | None
    decided_by: str | None


def proposal_row(row: sa.Row[Any]) -> MatchProposal:
    """A ``match_proposals`` row as a :class:`MatchProposal`."""
    return MatchProposal(**{name: row._mapping[name] for name in _PROPOSAL_FIELDS})


_PROPOSAL_FIELDS = tuple(MatchProposal.__dataclass_fields__)


def _json_text(dialect: str, column: sa.ColumnElement[Any], key: str) -> sa.ColumnElement[str]:
    """The text of ``key`` in a JSON object stored as text (``service_state.value``)."""
    text = sa.type_coerce(column, sa.Text)
    if dialect == "postgresql":
        return sa.func.json_extract_path_text(sa.cast(text, postgresql.JSON), key)
    return sa.func.json_extract(text, f"$.{key}")


def _names(dialect: str, names: Sequence[str]) -> sa.Select[Any]:
    """``names`` as rows of one column ``name``, from one bound parameter (no limit on how
    many, unlike a compound of literal selects)."""
    array = sa.literal(json.dumps(list(names)), sa.Text)
    if dialect == "postgresql":
        rows = sa.func.json_array_elements_text(sa.cast(array, postgresql.JSON))
    else:
        rows = sa.func.json_each(array)
    listed = rows.table_valued("value")
    return sa.select(listed.c.value.label("name"))


class ReadModel:
    """Read-only queries over a :class:`StateDatabase`, across its tenants.

    Args:
        db: the state database.
        clock: now, for lateness (tests pass a fixed one; default the database's clock).
    """

    def __init__(self, db: StateDatabase, *, clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.clock = clock or db.clock

    @property
    def _dialect(self) -> str:
        return self.db.engine.dialect.name

    # the fleet --------------------------------------------------------------------------------

    async def fleet(
        self,
        where: FleetFilter | None = None,
        *,
        configured: Sequence[str] = (),
        offset: int = 0,
        limit: int = DEFAULT_LIMIT,
    ) -> Page[TenantOverview]:
        """Every tenant, by name, one page at a time.

        Args:
            where: which tenants (default all).
            configured: the tenants of the configuration file; listed with the registry's
                (active and paused) tenants.
            offset: how many matching tenants to skip.
            limit: the most tenants to return.
        """
        registry = t.tenants.c
        known = sa.select(registry.name.label("name")).where(registry.state != "removed")
        if configured:
            known = sa.union(known, _names(self._dialect, configured))  # type: ignore[assignment]
        now = self.clock()
        query, matching = self._fleet_query(where or FleetFilter(), known, offset, limit)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            if rows:
                total = int(rows[0].total)
            elif offset == 0:
                total = 0
            else:  # past the end: the page holds no row to carry the count
                counted = sa.select(sa.func.count()).select_from(matching)
                total = int((await conn.execute(counted)).scalar_one())
            cycles = await self._last_cycles(conn, [row.name for row in rows])
        return Page([self._overview(row, cycles, now) for row in rows], total, offset, limit)

    async def tenants(self, names: Sequence[str]) -> list[TenantOverview]:
        """The overviews of exactly these tenants (registered or not), by name."""
        known = _names(self._dialect, names)
        query, _ = self._fleet_query(FleetFilter(), known, 0, max(1, len(names)))
        now = self.clock()
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            cycles = await self._last_cycles(conn, [row.name for row in rows])
        return [self._overview(row, cycles, now) for row in rows]

    def _fleet_query(
        self, where: FleetFilter, known: sa.Select[Any], offset: int, limit: int
    ) -> tuple[sa.Select[Any], sa.CTE]:
        """One page of the fleet with its details and the count of all matching tenants, in
        one statement; and the matching tenants' names (to count them apart).

        Only the names are filtered, counted and paged; the details are joined to the page's
        rows alone, so a page costs about the same at any size of the fleet.
        """
        fleet = known.subquery("fleet")
        names = sa.select(fleet.c.name)
        if where.health is not None:
            health = t.service_state.alias("health_filter")
            state = sa.func.coalesce(_json_text(self._dialect, health.c.value, "state"), NEVER_RUN)
            names = names.outerjoin(
                health, (health.c.tenant == fleet.c.name) & (health.c.key == HEALTH)
            ).where(state == where.health)
        if where.name:
            names = names.where(fleet.c.name.icontains(where.name, autoescape=True))
        if where.has_errors is not None:
            has = sa.exists().where(
                t.record_errors.c.tenant == fleet.c.name,
                t.record_errors.c.state == ErrorState.OPEN.value,
            )
            names = names.where(has if where.has_errors else ~has)
        matching = names.cte("matching")
        page = (
            sa.select(matching.c.name)
            .order_by(matching.c.name)
            .offset(offset)
            .limit(limit)
            .subquery("page")
        )
        registry = t.tenants.c
        health = t.service_state.alias("health")
        lag = t.service_state.alias("lag")
        schedule = t.tenant_schedules
        member = t.feed_members
        token = t.tokens
        errors = (
            sa.select(sa.func.count())
            .where(
                t.record_errors.c.tenant == page.c.name,
                t.record_errors.c.state == ErrorState.OPEN.value,
            )
            .scalar_subquery()
        )
        conflicts = (
            sa.select(sa.func.count())
            .where(t.conflicts.c.tenant == page.c.name, t.conflicts.c.resolved_at.is_(None))
            .scalar_subquery()
        )
        total = sa.select(sa.func.count()).select_from(matching).scalar_subquery()
        queue = self._queue_columns(page.c.name)
        query = (
            sa.select(
                page.c.name,
                registry.state.label("registry_state"),
                health.c.value.label("health"),
                lag.c.value.label("lag"),
                schedule.c.next_cycle_at,
                schedule.c.retry_at,
                schedule.c.failures,
                schedule.c.paused,
                schedule.c.paused_by,
                schedule.c.paused_reason,
                schedule.c.lease_owner,
                schedule.c.lease_until,
                member.c.live.label("feed_live"),
                token.c.tenant.label("fortnox_tokens"),
                errors.label("open_errors"),
                conflicts.label("open_conflicts"),
                total.label("total"),
                *queue,
            )
            .select_from(page)
            .outerjoin(t.tenants, registry.name == page.c.name)
            .outerjoin(health, (health.c.tenant == page.c.name) & (health.c.key == HEALTH))
            .outerjoin(lag, (lag.c.tenant == page.c.name) & (lag.c.key == LAG))
            .outerjoin(schedule, schedule.c.tenant == page.c.name)
            .outerjoin(member, member.c.tenant == page.c.name)
            .outerjoin(token, (token.c.tenant == page.c.name) & (token.c.system == "fortnox"))
            .order_by(page.c.name)
        )
        return query, matching

    def _queue_columns(self, name: sa.ColumnElement[str]) -> list[sa.Label[Any]]:
        """The columns of a tenant's :class:`QueueState` (none without a job queue).

        Each is a lookup of the tenant's lock on one of Procrastinate's partial unique indexes
        (``queueing_lock`` where ``todo``, ``lock`` where ``doing``), so a page costs the same
        however many jobs wait. The statuses are written into the statement, not bound: only
        then does PostgreSQL match them to those indexes' predicates in a prepared plan.
        """
        if self._dialect != "postgresql":
            return []
        jobs = job_queue.jobs.c
        lock = sa.literal(job_queue.TENANT_LOCK, sa.Text) + name
        todo = (jobs.queueing_lock == lock) & (jobs.status == sa.literal_column("'todo'"))
        doing = (jobs.lock == lock) & (jobs.status == sa.literal_column("'doing'"))

        def of(column: sa.ColumnElement[Any], where: sa.ColumnElement[bool]) -> Any:
            return sa.select(column).select_from(job_queue.jobs).where(where).scalar_subquery()

        return [
            of(sa.func.count(), todo).label("queue_waiting"),
            of(sa.func.count(), doing).label("queue_running"),
            of(sa.func.min(jobs.scheduled_at), todo).label("queue_next_at"),
        ]

    @staticmethod
    async def _count(conn: AsyncConnection, query: sa.Select[Any], offset: int) -> int:
        """The rows of ``query`` when its page came back empty (0 without asking at offset 0)."""
        if offset == 0:
            return 0
        counted = sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
        return int((await conn.execute(counted)).scalar_one())

    async def _last_cycles(
        self, conn: AsyncConnection, names: Sequence[str]
    ) -> dict[tuple[str, str], CycleRecord]:
        """Per tenant of ``names``: its newest ended cycle (``"ended"``) and newest completed
        one (``"completed"``), in one statement."""
        if not names:
            return {}
        cycles = t.cycles.c
        mine = cycles.tenant.in_(names)
        ended = sa.select(sa.func.max(cycles.id)).where(mine, cycles.status != RUNNING)
        completed = sa.select(sa.func.max(cycles.id)).where(mine, cycles.status == COMPLETED)
        wanted = sa.union(ended.group_by(cycles.tenant), completed.group_by(cycles.tenant))
        rows = await conn.execute(sa.select(t.cycles).where(cycles.id.in_(wanted)))
        found: dict[tuple[str, str], CycleRecord] = {}
        # Newest first: the first row of a tenant in each role is its newest.
        for row in sorted(rows, key=lambda row: -row.id):
            found.setdefault((row.tenant, "ended"), cycle_row(row))
            if row.status == COMPLETED:
                found.setdefault((row.tenant, COMPLETED), cycle_row(row))
        return found

    def _overview(
        self, row: sa.Row[Any], cycles: Mapping[tuple[str, str], CycleRecord], now: datetime
    ) -> TenantOverview:
        health = row.health or {}
        lease = row.lease_until
        syncing = row.lease_owner is not None and lease is not None and lease > now
        due = row.retry_at if row.failures and row.retry_at else row.next_cycle_at
        late = None
        if due is not None and not row.paused and not syncing and due < now:
            late = (now - due).total_seconds()
        success = cycles.get((row.name, COMPLETED))
        return TenantOverview(
            name=row.name,
            registered=row.registry_state is not None,
            registry_state=row.registry_state,
            health=health.get("state") or NEVER_RUN,
            reason=health.get("reason"),
            paused=row.paused,
            paused_by=row.paused_by,
            paused_reason=row.paused_reason,
            next_cycle_at=row.next_cycle_at,
            retry_at=row.retry_at,
            failures=row.failures or 0,
            late_seconds=late,
            syncing=syncing,
            last_cycle=cycles.get((row.name, "ended")),
            last_success_at=None if success is None else success.finished_at,
            open_errors=int(row.open_errors),
            open_conflicts=int(row.open_conflicts),
            feed_live=None if row.feed_live is None else bool(row.feed_live),
            fortnox_tokens=row.fortnox_tokens is not None,
            lag=row.lag,
            queue=self._queue(row),
        )

    def _queue(self, row: sa.Row[Any]) -> QueueState | None:
        if self._dialect != "postgresql":
            return None
        at = row.queue_next_at  # in the session's time zone; the store speaks UTC
        next_at = None if at is None else at.astimezone(UTC)
        return QueueState(int(row.queue_waiting), int(row.queue_running), next_at)

    # one tenant's records ---------------------------------------------------------------------

    async def entity_counts(self, tenant: str) -> list[EntityCount]:
        """Per entity of ``tenant``, by name: in sync (linked), excluded, failing by error
        kind, open conflicts."""
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
        conflicts = (
            sa.select(t.conflicts.c.entity, sa.func.count())
            .where(t.conflicts.c.tenant == tenant, t.conflicts.c.resolved_at.is_(None))
            .group_by(t.conflicts.c.entity)
        )
        async with self.db.engine.connect() as conn:
            linked = {row[0]: int(row[1]) for row in await conn.execute(links)}
            excluding = {row[0]: int(row[1]) for row in await conn.execute(excluded)}
            waiting = {row[0]: int(row[1]) for row in await conn.execute(conflicts)}
            failing: dict[str, dict[str, int]] = {}
            for entity, kind, count in await conn.execute(errors):
                failing.setdefault(entity, {})[kind] = int(count)
        return [
            EntityCount(
                entity,
                linked.get(entity, 0),
                excluding.get(entity, 0),
                failing.get(entity, {}),
                waiting.get(entity, 0),
            )
            for entity in sorted({*linked, *failing, *excluding, *waiting})
        ]

    async def exclusions(
        self,
        tenant: str,
        *,
        entity: str | None = None,
        offset: int = 0,
        limit: int = DEFAULT_LIMIT,
    ) -> Page[Exclusion]:
        """The records configuration excludes, with why, newest first."""
        rows = t.excluded_records.c
        query = sa.select(t.excluded_records, *_total()).where(rows.tenant == tenant)
        if entity is not None:
            query = query.where(rows.entity == entity)
        return await self._page(
            query.order_by(rows.id.desc()),
            offset,
            limit,
            lambda row: Exclusion(
                row.tenant, row.entity, row.webcrm_id, row.fortnox_id, row.reason, row.updated_at
            ),
        )

    async def cycles(
        self, tenant: str, *, offset: int = 0, limit: int = DEFAULT_LIMIT
    ) -> Page[CycleRow]:
        """``tenant``'s cycles, newest first (a running one included)."""
        query = sa.select(t.cycles, *_total()).where(t.cycles.c.tenant == tenant)
        return await self._page(
            query.order_by(t.cycles.c.id.desc()),
            offset,
            limit,
            lambda row: CycleRow(row.tenant, cycle_row(row)),
        )

    async def cycle(self, cycle_id: int) -> CycleRow | None:
        """The cycle of this id, whichever tenant's."""
        query = sa.select(t.cycles).where(t.cycles.c.id == cycle_id)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else CycleRow(row.tenant, cycle_row(row))

    async def errors(
        self,
        *,
        tenant: str | None = None,
        entity: str | None = None,
        open_only: bool = True,
        offset: int = 0,
        limit: int = DEFAULT_LIMIT,
    ) -> Page[ErrorRow]:
        """Record errors by tenant and id (``open_only``: those not resolved yet)."""
        rows = t.record_errors.c
        query = sa.select(t.record_errors, *_total())
        if tenant is not None:
            query = query.where(rows.tenant == tenant)
        if entity is not None:
            query = query.where(rows.entity == entity)
        if open_only:
            query = query.where(rows.state == ErrorState.OPEN.value)
        return await self._page(
            query.order_by(rows.tenant, rows.id),
            offset,
            limit,
            lambda row: ErrorRow(row.tenant, error_row(row)),
        )

    async def error(self, error_id: int) -> ErrorRow | None:
        """The record error of this id, whichever tenant's."""
        query = sa.select(t.record_errors).where(t.record_errors.c.id == error_id)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else ErrorRow(row.tenant, error_row(row))

    async def conflicts(
        self,
        *,
        tenant: str | None = None,
        entity: str | None = None,
        open_only: bool = False,
        offset: int = 0,
        limit: int = DEFAULT_LIMIT,
    ) -> Page[ConflictRow]:
        """Conflicts by tenant and id: both values, the base, the policy and how each was
        settled (``open_only``: those waiting for a person)."""
        rows = t.conflicts.c
        query = sa.select(t.conflicts, *_total())
        if tenant is not None:
            query = query.where(rows.tenant == tenant)
        if entity is not None:
            query = query.where(rows.entity == entity)
        if open_only:
            query = query.where(rows.resolved_at.is_(None))
        return await self._page(
            query.order_by(rows.tenant, rows.id),
            offset,
            limit,
            lambda row: ConflictRow(row.tenant, conflict_row(row)),
        )

    async def conflict(self, conflict_id: int) -> ConflictRow | None:
        """The conflict of this id, whichever tenant's."""
        query = sa.select(t.conflicts).where(t.conflicts.c.id == conflict_id)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else ConflictRow(row.tenant, conflict_row(row))

    async def lag_samples(
        self, tenant: str, *, since: datetime | None = None, limit: int = 1000
    ) -> list[LagSample]:
        """``tenant``'s measured propagation lags, newest first (``since``: at or after)."""
        rows = t.lag_samples.c
        query = sa.select(t.lag_samples).where(rows.tenant == tenant)
        if since is not None:
            query = query.where(rows.at >= since)
        query = query.order_by(rows.at.desc(), rows.id.desc()).limit(limit)
        async with self.db.engine.connect() as conn:
            return [
                LagSample(row.tenant, row.direction, row.seconds, row.at)
                for row in await conn.execute(query)
            ]

    async def match_proposals(
        self,
        tenant: str,
        *,
        entity: str | None = None,
        state: str | None = None,
        offset: int = 0,
        limit: int = DEFAULT_LIMIT,
    ) -> Page[MatchProposal]:
        """``tenant``'s stored match proposals by id (``state``: only those in it)."""
        rows = t.match_proposals.c
        query = sa.select(t.match_proposals, *_total()).where(rows.tenant == tenant)
        if entity is not None:
            query = query.where(rows.entity == entity)
        if state is not None:
            query = query.where(rows.state == state)
        return await self._page(query.order_by(rows.id), offset, limit, proposal_row)

    async def match_proposal(self, proposal_id: int) -> MatchProposal | None:
        """The match proposal of this id, whichever tenant's."""
        query = sa.select(t.match_proposals).where(t.match_proposals.c.id == proposal_id)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else proposal_row(row)

    async def requests(
        self,
        *,
        tenant: str | None = None,
        state: str | None = None,
        offset: int = 0,
        limit: int = DEFAULT_LIMIT,
    ) -> Page[AdminRequest]:
        """Admin requests, newest first, with their state and outcome."""
        rows = t.admin_requests.c
        query = sa.select(t.admin_requests, *_total())
        if tenant is not None:
            query = query.where(rows.tenant == tenant)
        if state is not None:
            query = query.where(rows.state == state)
        return await self._page(query.order_by(rows.id.desc()), offset, limit, request_row)

    async def _page(
        self,
        query: sa.Select[Any],
        offset: int,
        limit: int,
        convert: Callable[[sa.Row[Any]], T],
    ) -> Page[T]:
        """One page of ``query`` (which selects :func:`_total`)."""
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query.offset(offset).limit(limit))).all()
            total = rows[0].total if rows else await self._count(conn, query, offset)
        return Page([convert(row) for row in rows], int(total), offset, limit)


def _total() -> tuple[sa.Label[int]]:
    """The column that counts a query's rows beside each row of its page."""
    return (sa.func.count().over().label("total"),)
