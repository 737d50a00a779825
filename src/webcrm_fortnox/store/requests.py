"""Admin requests: what an operator asked to be done to a tenant, kept until it is done.

The admin page does not act itself: it records a request (retry errors, take a side of a
conflict, decide a match, start the import, sync now, full sync, pause, resume), and whatever
runs the tenant (``run``, a worker) claims it and carries it out, recording the outcome. A
request recorded while nothing runs the tenant waits in the table; claiming is one statement,
so two runners never carry out one request twice.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.state import StateDatabase


class RequestKind(enum.StrEnum):
    """What a request asks for, and the arguments it takes."""

    #: ``{"error_ids": [..]}`` (several) or ``{}`` (every open error)
    RETRY = "retry"
    #: ``{"conflict_id": N, "side": "webcrm"|"fortnox"}``
    TAKE = "take"
    #: ``{"proposal_id": N}``
    ACCEPT = "accept"
    #: ``{"proposal_id": N}``
    REJECT = "reject"
    #: ``{"proposal_id": N}``: this candidate pair among ambiguous ones
    CHOOSE = "choose"
    #: ``{}``: the first import (an incremental sync, which matches and links)
    IMPORT = "import"
    #: ``{}``
    SYNC = "sync"
    #: ``{}``
    FULL_SYNC = "full sync"
    #: ``{"reason": "..."}`` (optional)
    PAUSE = "pause"
    #: ``{}``
    RESUME = "resume"


class RequestState(enum.StrEnum):
    """Where a request is."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class AdminRequest:
    """One request and, once carried out, how it went.

    Attributes:
        id: its id.
        tenant: the tenant it acts on.
        kind: what it asks for.
        arguments: what it acts on (see :class:`RequestKind`).
        requested_by: the operator who asked.
        requested_at: when.
        state: pending, running, done or failed.
        outcome: what was done, or why it failed, in plain English.
        claimed_by: the process carrying it out.
        done_at: when it ended.
    """

    id: int
    tenant: str
    kind: RequestKind
    arguments: Mapping[str, Any]
    requested_by: str
    requested_at: datetime
    state: RequestState
    outcome: str | None
    claimed_by: str | None
    done_at: datetime | None


def request_row(row: sa.Row[Any]) -> AdminRequest:
    """An ``admin_requests`` row as an :class:`AdminRequest`."""
    return AdminRequest(
        id=row.id,
        tenant=row.tenant,
        kind=RequestKind(row.kind),
        arguments=row.arguments,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        state=RequestState(row.state),
        outcome=row.outcome,
        claimed_by=row.claimed_by,
        done_at=row.done_at,
    )


class AdminRequests:
    """The ``admin_requests`` table of a :class:`StateDatabase`."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    async def record(
        self,
        tenant: str,
        kind: RequestKind,
        arguments: Mapping[str, Any],
        requested_by: str,
    ) -> AdminRequest:
        """Store a pending request; returns it with its id."""
        insert = (
            sa.insert(t.admin_requests)
            .values(
                tenant=tenant,
                kind=kind.value,
                arguments=dict(arguments),
                requested_by=requested_by,
                requested_at=self.db.clock(),
                state=RequestState.PENDING.value,
            )
            .returning(*t.admin_requests.c)
        )
        async with self.db.begin() as conn:
            return request_row((await conn.execute(insert)).one())

    async def claim(
        self, tenant: str, owner: str, kinds: Collection[RequestKind] | None = None
    ) -> AdminRequest | None:
        """Mark ``tenant``'s oldest pending request (of ``kinds``, default any) running for
        ``owner`` and return it; ``None`` when none waits. One statement: of two claimants, one
        gets it."""
        rows = t.admin_requests.c
        pending = (rows.tenant == tenant) & (rows.state == RequestState.PENDING.value)
        if kinds is not None:
            pending &= rows.kind.in_([kind.value for kind in kinds])
        oldest = (
            sa.select(rows.id)
            .where(pending)
            .order_by(rows.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claim = (
            sa.update(t.admin_requests)
            .where(rows.id == oldest, rows.state == RequestState.PENDING.value)
            .values(state=RequestState.RUNNING.value, claimed_by=owner)
            .returning(*t.admin_requests.c)
        )
        async with self.db.begin() as conn:
            row = (await conn.execute(claim)).first()
        return None if row is None else request_row(row)

    async def finish(self, request_id: int, state: RequestState, outcome: str) -> None:
        """Record how a claimed request ended (``done`` or ``failed``) and what came of it."""
        async with self.db.begin() as conn:
            await conn.execute(
                sa.update(t.admin_requests)
                .where(t.admin_requests.c.id == request_id)
                .values(state=state.value, outcome=outcome, done_at=self.db.clock())
            )

    async def waiting(self, tenant: str) -> bool:
        """Whether a request of ``tenant`` waits: a read, cheaper than a claim (which writes)
        for a runner that looks each time it wakes."""
        rows = t.admin_requests.c
        query = sa.select(
            sa.exists().where(rows.tenant == tenant, rows.state == RequestState.PENDING.value)
        )
        async with self.db.engine.connect() as conn:
            return bool((await conn.execute(query)).scalar())

    async def waiting_tenants(self, kinds: Collection[RequestKind]) -> list[str]:
        """The tenants with a pending request of ``kinds``, by name."""
        rows = t.admin_requests.c
        query = (
            sa.select(rows.tenant)
            .where(
                rows.state == RequestState.PENDING.value,
                rows.kind.in_([kind.value for kind in kinds]),
            )
            .distinct()
            .order_by(rows.tenant)
        )
        async with self.db.engine.connect() as conn:
            return [row.tenant for row in await conn.execute(query)]
