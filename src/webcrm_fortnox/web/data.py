"""Everything the administrator's page reads and records, in one place.

Reading goes through the store's read model (:class:`~webcrm_fortnox.store.queries.ReadModel`);
acting records an admin request (:class:`~webcrm_fortnox.store.requests.AdminRequests`) that
whatever runs the tenant carries out, so the page never syncs, writes to a vendor or settles
anything itself, and a request made while no runner is up waits for one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from webcrm_fortnox.store.queries import (
    ConflictRow,
    CycleRow,
    EntityCount,
    ErrorRow,
    FleetFilter,
    MatchProposal,
    Page,
    ReadModel,
    TenantOverview,
)
from webcrm_fortnox.store.requests import AdminRequest, AdminRequests, RequestKind
from webcrm_fortnox.store.state import StateDatabase

#: Rows per page of the fleet, and of a tenant's lists.
FLEET_PAGE = 50
LIST_PAGE = 50
#: Cycles read for the syncs-per-hour chart (more than a day of a busy tenant's).
CHART_CYCLES = 2000


@dataclass(frozen=True)
class TenantPage:
    """What the tenant page shows above its lists."""

    overview: TenantOverview
    counts: Sequence[EntityCount]
    cycles: Page[CycleRow]


class SiteData:
    """The page's reads and requests over one state database.

    Args:
        db: the state database (the configuration's ``[state]``).
        configured: the tenants of the configuration file (the registry's come from the store).
    """

    def __init__(self, db: StateDatabase, configured: Sequence[str] = ()) -> None:
        self.db = db
        self.configured = tuple(configured)
        self.read = ReadModel(db)
        self.requests = AdminRequests(db)

    def now(self) -> datetime:
        return self.db.clock()

    async def fleet(self, where: FleetFilter, page: int) -> Page[TenantOverview]:
        """One page (from 0) of the tenants ``where`` selects."""
        return await self.read.fleet(
            where, configured=self.configured, offset=page * FLEET_PAGE, limit=FLEET_PAGE
        )

    async def overview(self, tenant: str) -> TenantOverview | None:
        """The tenant's overview, or ``None`` when neither the configuration file nor the
        registry (removed tenants aside) has it."""
        for row in await self.read.tenants([tenant]):
            listed = row.registered and row.registry_state != "removed"
            if listed or tenant in self.configured:
                return row
        return None

    async def tenant_page(self, overview: TenantOverview, page: int) -> TenantPage:
        counts = await self.read.entity_counts(overview.name)
        cycles = await self.read.cycles(overview.name, offset=page * LIST_PAGE, limit=LIST_PAGE)
        return TenantPage(overview, counts, cycles)

    async def counts(self, tenant: str) -> Sequence[EntityCount]:
        return await self.read.entity_counts(tenant)

    async def cycles(self, tenant: str, page: int) -> Page[CycleRow]:
        return await self.read.cycles(tenant, offset=page * LIST_PAGE, limit=LIST_PAGE)

    async def errors(self, tenant: str, page: int) -> Page[ErrorRow]:
        """The tenant's open errors."""
        return await self.read.errors(tenant=tenant, offset=page * LIST_PAGE, limit=LIST_PAGE)

    async def conflicts(self, tenant: str, page: int) -> Page[ConflictRow]:
        """The tenant's conflicts waiting for a person."""
        return await self.read.conflicts(
            tenant=tenant, open_only=True, offset=page * LIST_PAGE, limit=LIST_PAGE
        )

    async def proposals(self, tenant: str, page: int) -> Page[MatchProposal]:
        """The tenant's stored match proposals, decided or not."""
        return await self.read.match_proposals(tenant, offset=page * LIST_PAGE, limit=LIST_PAGE)

    async def recent_requests(self, tenant: str) -> Page[AdminRequest]:
        """The tenant's newest requests with their state and outcome."""
        return await self.read.requests(tenant=tenant, limit=10)

    async def lag_samples(self, tenant: str) -> list[tuple[datetime, float]]:
        """The tenant's propagation lags of the last day: (when, seconds)."""
        since = self.now() - timedelta(days=1)
        return [(s.at, s.seconds) for s in await self.read.lag_samples(tenant, since=since)]

    async def sync_starts(self, tenant: str) -> list[datetime]:
        """When the tenant's newest cycles started (for syncs per hour)."""
        page = await self.read.cycles(tenant, limit=CHART_CYCLES)
        return [row.cycle.started_at for row in page.rows]

    async def request(
        self, tenant: str, kind: RequestKind, arguments: Mapping[str, Any], by: str
    ) -> AdminRequest:
        """Record a request for whatever runs ``tenant`` to carry out."""
        return await self.requests.record(tenant, kind, arguments, by)
