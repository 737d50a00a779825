"""What a person does to one tenant, shared by the CLI commands and the admin page's requests.

- :func:`retry_errors`: sync failing records again (one, several or all), of any entity.
- :func:`settle_conflicts`: settle open conflicts of any entity with one side's value.
- :func:`decide_proposal`: accept, reject or choose a stored match proposal.

Each returns what it did in plain English, so that ``retry``, ``conflicts --take`` and ``match
--accept`` print it and a request carried out for the page records it as its outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.domain.article import ENTITY as ARTICLE
from webcrm_fortnox.domain.article import article_spec
from webcrm_fortnox.domain.customer_spec import ENTITY as CUSTOMER
from webcrm_fortnox.domain.customer_spec import customer_spec
from webcrm_fortnox.domain.document import ENTITY as DOCUMENT
from webcrm_fortnox.domain.document import document_spec
from webcrm_fortnox.engine.adapters import (
    FortnoxArticles,
    WebcrmProducts,
    customer_sources,
    document_sources,
)
from webcrm_fortnox.engine.plan import Mode, system_name
from webcrm_fortnox.engine.ports import Conflict, EntitySpec, RecordSource, System
from webcrm_fortnox.engine.review import ReviewError, resolve_conflict
from webcrm_fortnox.errors import ApiError
from webcrm_fortnox.fortnox.client import FortnoxClient
from webcrm_fortnox.service.connections import TenantClients
from webcrm_fortnox.service.runner import (
    SyncOptions,
    TenantPlace,
    TenantRun,
    stored_links,
    sync_tenant,
)
from webcrm_fortnox.store.proposals import MatchProposals, Verdict
from webcrm_fortnox.store.state import TenantState
from webcrm_fortnox.webcrm.client import WebcrmClient


class UnknownEntityError(LookupError):
    """A stored row names an entity this program does not sync."""


def entity_sources(
    entity: str,
    tenant: TenantConfig,
    state: TenantState,
    webcrm: WebcrmClient,
    fortnox: FortnoxClient,
    *,
    now: Callable[[], datetime],
) -> tuple[EntitySpec, Mapping[System, RecordSource]]:
    """An entity's rules and record sources, to act on one of its records.

    Raises:
        UnknownEntityError: ``entity`` is none of customer, article, document.
    """
    if entity == CUSTOMER:
        organisations, customers = customer_sources(tenant, webcrm, fortnox, now=now)
        return customer_spec(tenant), {"webcrm": organisations, "fortnox": customers}
    if entity == ARTICLE:
        articles: dict[System, RecordSource] = {
            "webcrm": WebcrmProducts(webcrm, tenant.articles),
            "fortnox": FortnoxArticles(fortnox, tenant.articles),
        }
        return article_spec(), articles
    if entity == DOCUMENT:
        return document_spec(tenant), document_sources(
            tenant, stored_links(state), webcrm, fortnox, now=now
        )
    raise UnknownEntityError(f"no entity {entity!r} (customer, article, document)")


async def retry_errors(
    tenant: TenantConfig,
    state: TenantState,
    clients: TenantClients,
    error_ids: Sequence[int] | None,
    *,
    place: TenantPlace | None = None,
) -> list[TenantRun]:
    """Sync the records of these open errors again (``None``: every open one), whatever
    their entity: one retry cycle per error named, or one for all."""
    runs = []
    for error_id in [None] if error_ids is None else error_ids:
        options = SyncOptions(
            mode=Mode.RETRY,
            trigger="retry",
            retry_error=error_id,
            now=clients.now,
            place=place,
        )
        runs.append(await sync_tenant(tenant, state, clients.webcrm, clients.fortnox, options))
    return runs


@dataclass(frozen=True)
class Settled:
    """How settling one conflict went: ``problem`` is ``None`` when it was settled."""

    conflict: Conflict
    winner: System
    problem: str | None = None

    def __str__(self) -> str:
        field = self.conflict.report.field
        if self.problem is not None:
            return f"conflict {self.conflict.id} ({field}): {self.problem}"
        return (
            f"conflict {self.conflict.id} ({self.conflict.entity} {field}) settled: "
            f"{system_name(self.winner)}'s value kept on both sides"
        )


async def settle_conflicts(
    tenant: TenantConfig,
    state: TenantState,
    clients: TenantClients,
    winner: System,
    conflict_id: int | None = None,
) -> list[Settled]:
    """Settle ``tenant``'s open conflict ``conflict_id`` (``None``: every open one), of any
    entity, by writing ``winner``'s current value to the other side.

    A write refused or a pair no longer linked leaves that conflict open and is told in its
    :class:`Settled`; the others are settled regardless.
    """
    settled = []
    for conflict in await state.conflicts(open_only=True):
        if conflict_id is not None and conflict.id != conflict_id:
            continue
        try:
            spec, sources = entity_sources(
                conflict.entity, tenant, state, clients.webcrm, clients.fortnox, now=clients.now
            )
            await resolve_conflict(spec, state, sources, conflict.id, winner)
        except (ReviewError, ApiError, UnknownEntityError) as error:
            settled.append(Settled(conflict, winner, str(error)))
            continue
        settled.append(Settled(conflict, winner))
    return settled


async def decide_proposal(
    state: TenantState, proposal_id: int, verdict: Verdict, decided_by: str
) -> str:
    """Decide on one stored match proposal of the tenant; returns what was decided.

    Raises:
        ProposalError: no such proposal of the tenant, or it cannot take ``verdict``.
    """
    changed = await MatchProposals(state.db).decide(state.tenant, proposal_id, verdict, decided_by)
    decided, *others = changed
    said = (
        f"match proposal {decided.id} (webCRM {decided.webcrm_id} = Fortnox "
        f"{decided.fortnox_id}) {decided.state}"
    )
    if others:
        said += f"; {len(others)} other candidate(s) sharing a record rejected"
    return said + "; the next sync applies it"
