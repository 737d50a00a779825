"""One tenant's customer sync: check webCRM's field setup, then plan or run the engine.

:func:`sync_tenant` is a plain async function of its inputs (the tenant's configuration, its
state store and its two clients); it keeps nothing between calls, so any number of tenants run
side by side in one process without seeing each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.domain.article import ENTITY as ARTICLE
from webcrm_fortnox.domain.article import article_spec
from webcrm_fortnox.domain.customer_spec import ENTITY, customer_spec
from webcrm_fortnox.domain.document import document_spec
from webcrm_fortnox.domain.webcrm_setup import SetupProblem
from webcrm_fortnox.engine.adapters import (
    Announced,
    FortnoxArticles,
    LinkIndex,
    LinkSource,
    WebcrmOrganisations,
    WebcrmProducts,
    customer_sources,
    document_sources,
    planned_customers,
)
from webcrm_fortnox.engine.apply import RecordOutcome
from webcrm_fortnox.engine.matching import MatchResult, Pair
from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.engine.ports import (
    EntitySpec,
    MatchVerdict,
    RecordSource,
    StateStore,
    System,
    system_name,
    utcnow,
)
from webcrm_fortnox.engine.review import propose_matches
from webcrm_fortnox.engine.sync import Progress, RunResult, RunStatus, sync_entity
from webcrm_fortnox.errors import ApiError, NoAnswer, PermissionDenied, ReconnectNeeded
from webcrm_fortnox.fortnox.client import FortnoxClient
from webcrm_fortnox.service.exclusions import ExclusionLog, Exclusions
from webcrm_fortnox.store.proposals import MatchProposals, Proposed, Verdict
from webcrm_fortnox.store.queries import MatchProposal
from webcrm_fortnox.store.state import StateDatabase, TenantState
from webcrm_fortnox.transport.http import masked_url
from webcrm_fortnox.webcrm.classify import TOKEN_SETTINGS
from webcrm_fortnox.webcrm.client import WebcrmClient


@dataclass
class TenantRun:
    """How one tenant's run went.

    Attributes:
        tenant: the tenant's name.
        results: one engine result per entity that ran (customers, for now).
        setup_problems: what webCRM's field setup lacks; the run stopped before syncing.
        message: why the tenant stopped before or during its run, in plain English.
        matches: for ``match``: the proposed pairs, ambiguous candidates and one-sided records.
        proposals: for ``match``: the proposals as stored (their ids and states).
        decisions: for ``match``: how many decisions were recorded.
        error: the error that stopped the run, when one did.
    """

    tenant: str
    results: list[RunResult] = field(default_factory=list)
    setup_problems: list[SetupProblem] = field(default_factory=list)
    message: str | None = None
    matches: MatchResult | None = None
    proposals: list[MatchProposal] = field(default_factory=list)
    decisions: int = 0
    error: ApiError | None = None

    @property
    def stopped(self) -> bool:
        """Whether the run could not complete (setup, authentication, unreachable system)."""
        return self.message is not None or any(r.status is RunStatus.ABORTED for r in self.results)

    @property
    def reason(self) -> str | None:
        """Why it stopped, if it did."""
        if self.message is not None:
            return self.message
        return next((r.message for r in self.results if r.status is RunStatus.ABORTED), None)

    @property
    def exit_code(self) -> int:
        """1 when it could not complete; 3 when some records need attention; else 0."""
        if self.stopped:
            return 1
        return max((r.exit_code for r in self.results), default=0)


def combined_exit_code(runs: Sequence[TenantRun]) -> int:
    """The command's exit status over several tenants: the worst of theirs (1 over 3 over 0)."""
    codes = {run.exit_code for run in runs}
    return 1 if 1 in codes else max(codes, default=0)


#: The settings of a tenant that hold an address the clients send to, by system.
_ADDRESS_SETTINGS = {
    "webcrm": ("webcrm.base_url",),
    "fortnox": ("fortnox.base_url", "fortnox.auth_url"),
}


@dataclass(frozen=True)
class TenantPlace:
    """Where a tenant's settings are written, so that a message can point at one of them.

    Attributes:
        file: the configuration file.
        index: the tenant's position among its ``[[tenant]]`` tables, from 0.
    """

    file: Path
    index: int

    def key(self, key: str) -> str:
        """``webcrm.base_url`` → ``tenant[0].webcrm.base_url in webcrm-fortnox.toml``."""
        return f"tenant[{self.index}].{key} in {self.file}"


def _address_setting(error: NoAnswer, tenant: TenantConfig) -> tuple[str, str] | None:
    """The tenant's setting that holds the address ``error`` got no answer from, and its value
    fit to show; ``None`` when no setting of the system holds it."""
    for key in _ADDRESS_SETTINGS.get(error.system, ()):
        table, name = key.split(".")
        value = getattr(getattr(tenant, table), name)
        if masked_url(value, origin=True) == error.address:
            return key, masked_url(value)
    return None


def stopped_message(
    error: ApiError, tenant: TenantConfig | None = None, place: TenantPlace | None = None
) -> str:
    """A one-line reason for a tenant stopped by ``error`` (never shows a credential).

    A system that gave no answer is named by its address and, given the ``tenant``, by the
    setting that holds it (with its file, given the tenant's ``place``)::

        webCRM: no answer from http://127.0.0.1:8782 (tenant[0].webcrm.base_url in
        webcrm-fortnox.toml): connection refused; check the address and that webCRM is reachable
    """
    system = system_name(error.system or "")
    where = f"{system}: " if system else ""
    if isinstance(error, ReconnectNeeded) and tenant is not None:
        return f"{where}{_credentials_refused(error, tenant, place)}"
    if not isinstance(error, NoAnswer):
        return f"{where}{error.explanation}"
    address = error.address
    setting = None if tenant is None else _address_setting(error, tenant)
    if setting is not None:
        key, shown = setting
        address = f"{shown} ({place.key(key) if place else key + ' in the configuration'})"
    return (
        f"{where}no answer from {address}: {error.reason}; "
        f"check the address and that {system or 'the system'} is reachable"
    )


def _credentials_refused(
    error: ReconnectNeeded, tenant: TenantConfig, place: TenantPlace | None
) -> str:
    """What a refusal of the tenant's credentials means and what to do, by the setting at fault
    and the tenant's auth mode, with the vendor's own code and words."""

    def key(name: str) -> str:
        return place.key(name) if place else f"{name} in the configuration"

    code, message = error.code, error.vendor_message
    # Fortnox's plain-text token answers repeat the code in the message.
    if code is not None and message and message.startswith(str(code)):
        code = None
    vendor = ": ".join(str(part) for part in (code, message) if part)
    said = f" ({vendor})" if vendor else ""
    if error.system == "webcrm":
        return (
            f"the API token was refused{said}; check {key('webcrm.api_token')} against the "
            f"token in webCRM under {TOKEN_SETTINGS}"
        )
    connect = f"`webcrm-fortnox connect fortnox --tenant {tenant.name}`"
    if tenant.fortnox.auth == "service-account":
        return (
            f"the client credentials were refused{said}; check {key('fortnox.client_secret')}, "
            "and fortnox.client_id and fortnox.tenant_id beside it"
        )
    if error.code == "invalid_grant":
        return (
            f"the company's stored grant was refused{said}: revoked, expired or already used; "
            f"connect again: {connect}"
        )
    return (
        f"the client credentials or the company's consent were refused{said}; check "
        f"{key('fortnox.client_secret')} and fortnox.client_id beside it, then connect again: "
        f"{connect}"
    )


@dataclass(frozen=True)
class SyncOptions:
    """How one sync of a tenant runs.

    Attributes:
        mode: incremental (a first run reads everything and matches), full or retry.
        trigger: what started it, recorded with its cycle: ``"cycle"`` (the schedule), a change
            (``"fortnox feed"``, ``"webcrm poll"``, …), ``"once"`` (``sync --once``), ``"retry"``.
        dry_run: compute the plan only; nothing is written to either system or the state.
        retry_error: in retry mode, the one error to retry (default: every open one).
        progress: called after each applied action with (done, total, outcome).
        now: the clock Fortnox cursors are taken from, and the age of a create that got no
            answer is told by (tests pass the emulators').
        create_settle: how long a create that got no answer is given to land before it may be
            sent again (default: the tenant's ``unanswered_create_wait_seconds``).
        announced: every Fortnox record changed since the last read by ``lastmodified``, when
            Fortnox's change feed has announced every change since (the service knows): only
            those are read, that read's cursors are kept, and articles are left to the next
            listing unless one was announced. ``None``: read by ``lastmodified``.
        place: where the tenant's settings are written, named when one of them is at fault.
    """

    mode: Mode = Mode.INCREMENTAL
    trigger: str = "once"
    dry_run: bool = False
    retry_error: int | None = None
    progress: Progress | None = None
    now: Callable[[], datetime] = utcnow
    create_settle: timedelta | None = None
    announced: Announced | None = None
    place: TenantPlace | None = None


class CycleLog(Protocol):
    """Where a tenant's cycles are recorded (the state store's ``cycles``)."""

    async def start_cycle(self, trigger: str, mode: str) -> int:
        """Record the start of a cycle; returns its id."""
        ...

    async def finish_cycle(
        self,
        cycle_id: int,
        status: str,
        counts: Mapping[str, Mapping[str, int]],
        message: str | None,
        health: Mapping[str, str | None] | None,
    ) -> None:
        """Record how a cycle ended, and the tenant's health after it (``None``: unchanged)."""
        ...


class SyncState(StateStore, CycleLog, ExclusionLog, Protocol):
    """A tenant's state store that also records its cycles and excluded records; its match
    proposals are stored beside it, in its database."""

    db: StateDatabase
    tenant: str


#: How a cycle ended: every entity's run completed (records may have failed), or not.
COMPLETED = "completed"
STOPPED = "stopped"


#: The tenant's health after a cycle, as ``status`` and ``/healthz`` show it.
OK = "ok"
FAILING = "failing"
RECONNECT = "reconnect needed"


def health_after(run: TenantRun) -> tuple[str, str | None]:
    """The tenant's health after ``run``: its state and why."""
    if not run.stopped:
        return OK, None
    if isinstance(run.error, ReconnectNeeded):
        return RECONNECT, run.reason
    if isinstance(run.error, PermissionDenied):
        return FAILING, f"{run.reason} (see `webcrm-fortnox connect`)"
    return FAILING, run.reason


async def sync_tenant(
    tenant: TenantConfig,
    state: SyncState,
    webcrm: WebcrmClient,
    fortnox: FortnoxClient,
    options: SyncOptions | None = None,
) -> TenantRun:
    """Sync (or, with ``dry_run``, plan) one tenant: customers, articles, then documents.

    webCRM's field setup is checked first: a custom field the configuration maps that webCRM
    lacks (or has of the wrong kind) stops the tenant with the list of what to create, before
    anything is read or written. A setup found complete is read again after an hour (by the
    clients kept between runs); an incomplete one on every run.

    Unless it is a dry run, the sync is recorded as one cycle (its trigger, start and end,
    ``completed`` or ``stopped``, counts per entity, why it stopped) together with the tenant's
    health after it, whoever runs it: ``run``, ``sync --once``, ``retry``. The candidate pairs
    of the ambiguous records its matching found (a first import holds them back) are stored as
    match proposals for a person to choose among.

    Args:
        tenant: the tenant's configuration.
        state: its state store.
        webcrm: its webCRM client.
        fortnox: its Fortnox client.
        options: how to run (default: an incremental ``sync --once``).

    Returns:
        The run; see :attr:`TenantRun.exit_code`. Failures to reach or authenticate with a
        system end up in :attr:`TenantRun.message` rather than raised.
    """
    options = options or SyncOptions()
    run = TenantRun(tenant.name)
    if options.dry_run:
        await _sync_tenant(run, tenant, state, webcrm, fortnox, options)
        return run
    cycle_id = await state.start_cycle(options.trigger, options.mode.value)
    exclusions = Exclusions(state)
    shown = options.progress

    def progress(done: int, total: int, outcome: RecordOutcome) -> None:
        exclusions.observe(outcome)
        if shown is not None:
            shown(done, total, outcome)

    try:
        try:
            await _sync_tenant(
                run, tenant, state, webcrm, fortnox, replace(options, progress=progress)
            )
            await _propose_ambiguous(state, run)
        finally:
            await exclusions.save()
    except BaseException as error:
        # A defect fails the tenant; a stop between two records or a cancellation only ends
        # the cycle (the tenant is as well as it was).
        message = f"internal error: {type(error).__name__}: {error}"
        failed: dict[str, str | None] | None = {"state": FAILING, "reason": message}
        if not isinstance(error, Exception):
            message, failed = f"interrupted: {type(error).__name__}", None
        await state.finish_cycle(cycle_id, STOPPED, _counts(run), message, failed)
        raise
    health, reason = health_after(run)
    status = STOPPED if run.stopped else COMPLETED
    await state.finish_cycle(
        cycle_id, status, _counts(run), run.reason, {"state": health, "reason": reason}
    )
    return run


async def _propose_ambiguous(state: SyncState, run: TenantRun) -> None:
    """Store the candidate pairs of the ambiguities the sync's matching found (a first import
    holds those records back), so that a person can choose among them without ``match``."""
    for result in run.results:
        if result.plan is not None and result.plan.ambiguous:
            pairs = proposed_pairs(MatchResult(ambiguous=result.plan.ambiguous))
            await MatchProposals(state.db).propose(
                state.tenant, result.entity, [p for _, p in pairs], every=False
            )


def _counts(run: TenantRun) -> dict[str, dict[str, int]]:
    return {result.entity: dict(result.counts) for result in run.results}


async def _sync_tenant(
    run: TenantRun,
    tenant: TenantConfig,
    state: StateStore,
    webcrm: WebcrmClient,
    fortnox: FortnoxClient,
    options: SyncOptions,
) -> None:
    """The entities of one sync, in order, into ``run``."""
    mode, dry_run, place = options.mode, options.dry_run, options.place
    announced = options.announced
    organisations, customers = customer_sources(
        tenant, webcrm, fortnox, now=options.now, announced=announced
    )
    if not await _setup_is_complete(run, tenant, place, organisations):
        await _log_stop(state, run, ENTITY, mode, dry_run)
        return
    engine: dict[str, Any] = {
        "mode": mode,
        "retry_error": options.retry_error,
        "dry_run": dry_run,
        "progress": options.progress,
        "now": options.now,
        "create_settle": (
            options.create_settle
            if options.create_settle is not None
            else timedelta(seconds=tenant.unanswered_create_wait_seconds)
        ),
    }
    sources: Mapping[System, RecordSource] = {"webcrm": organisations, "fortnox": customers}
    # Customers first, then articles, then documents: a delivery's organisation must be a
    # linked customer, and a line's article a linked item, before the document can sync.
    if not await _sync(run, tenant, place, customer_spec(tenant), state, sources, engine):
        return
    # Both registers are read whole every time (see engine.adapters.articles): not worth it for
    # a change the feed says touched no article.
    if tenant.articles.enabled and (announced is None or announced.articles):
        products = WebcrmProducts(webcrm, tenant.articles)
        if not await _article_setup_is_complete(run, tenant, place, products):
            await _log_stop(state, run, ARTICLE, mode, dry_run)
            return
        articles: dict[System, RecordSource] = {
            "webcrm": products,
            "fortnox": FortnoxArticles(fortnox, tenant.articles),
        }
        if not await _sync(run, tenant, place, article_spec(), state, articles, engine):
            return
    if tenant.documents.enabled:
        # A dry run links nothing: its documents are planned with the customers it would link.
        customer_plan = next((r.plan for r in run.results if r.entity == ENTITY), None)
        planned = customer_plan if dry_run else None
        dry_links = None if planned is None else planned_customers(planned)
        documents = document_sources(
            tenant,
            stored_links(state, dry_links),
            webcrm,
            fortnox,
            now=options.now,
            announced=announced,
        )
        await _sync(run, tenant, place, document_spec(tenant), state, documents, engine)


def stored_links(state: StateStore, planned: Mapping[str, str] | None = None) -> LinkSource:
    """How the document sources read the customer and article links the state store holds
    (and, for a dry run, the customer links it would make: see ``LinkIndex.of``)."""

    async def links() -> LinkIndex:
        customers, articles = await state.links(ENTITY), await state.links(ARTICLE)
        return LinkIndex.of(customers, articles, planned)

    return links


async def _sync(
    run: TenantRun,
    tenant: TenantConfig,
    place: TenantPlace | None,
    spec: EntitySpec,
    state: StateStore,
    sources: Mapping[System, RecordSource],
    options: Mapping[str, Any],
) -> bool:
    """Run one entity into ``run``; false when the tenant must stop (the run was aborted)."""
    result = await sync_entity(spec, state, sources, **options)
    if result.status is RunStatus.ABORTED and isinstance(result.error, ApiError):
        run.message = stopped_message(result.error, tenant, place)
        run.error = result.error
    run.results.append(result)
    return result.status is not RunStatus.ABORTED


async def _log_stop(
    state: StateStore, run: TenantRun, entity: str, mode: Mode, dry_run: bool
) -> None:
    """Log ``entity``'s run as aborted with ``run``'s message: the tenant stopped before it.

    So the run log (which ``status`` reads) holds a sync stopped by webCRM's setup or an
    unreachable system as it holds one stopped while reading.
    """
    if dry_run:
        return
    run_id = await state.start_run(mode.value, entity)
    await state.finish_run(run_id, RunStatus.ABORTED.value, {}, run.message)


async def _article_setup_is_complete(
    run: TenantRun, tenant: TenantConfig, place: TenantPlace | None, products: WebcrmProducts
) -> bool:
    """Check the product register's setup; on a gap or failure, say why in ``run``."""
    try:
        problems = await products.check_setup()
    except ApiError as error:
        run.message = stopped_message(error, tenant, place)
        run.error = error
        return False
    if problems:
        run.setup_problems = [
            SetupProblem("articles", "QuotationLines/LinkedSetup", problem) for problem in problems
        ]
        run.message = (
            f"webCRM's product register lacks {len(problems)} thing(s) the article settings "
            "need; articles and documents were not synced"
        )
        return False
    return True


async def _setup_is_complete(
    run: TenantRun,
    tenant: TenantConfig,
    place: TenantPlace | None,
    organisations: WebcrmOrganisations,
) -> bool:
    """Check webCRM's field setup; on a gap or failure, say why in ``run`` and return false."""
    try:
        run.setup_problems = await organisations.check_setup()
    except ApiError as error:
        run.message = stopped_message(error, tenant, place)
        run.error = error
        return False
    if run.setup_problems:
        run.message = (
            f"webCRM's field setup lacks {len(run.setup_problems)} thing(s) this configuration "
            "needs; nothing was done"
        )
        return False
    return True


#: Proposal ids by (webCRM id, Fortnox id), as :func:`match_tenant` stored them.
ProposalIds = Mapping[tuple[str, str], int]
#: Given the proposals (and their stored ids), the decisions to record: (pair, verdict) each.
Decide = Callable[[MatchResult, ProposalIds], Awaitable[Sequence[tuple[Pair, MatchVerdict]]]]


def proposed_pairs(result: MatchResult) -> list[tuple[Pair, Proposed]]:
    """The pairs of ``result`` to store for review: each unambiguous pair found by a key, and
    each candidate pair of an ambiguity (grouped by the ambiguity; a record is in at most one).
    Pairs found by an earlier decision are decided already."""

    def stored(pair: Pair, candidates: str | None) -> tuple[Pair, Proposed]:
        return pair, Proposed(
            pair.webcrm.id,
            pair.fortnox.id,
            pair.key,
            candidates,
            _name(pair.webcrm.fields.get("name")),
            _name(pair.fortnox.fields.get("name")),
        )

    found = [stored(pair, None) for pair in result.pairs if pair.key != "decision"]
    for ambiguity in result.ambiguous:
        group = f"{ambiguity.key}: webCRM {min(r.id for r in ambiguity.webcrm)}"
        found += [
            stored(Pair(webcrm, fortnox, ambiguity.key), group)
            for webcrm in ambiguity.webcrm
            for fortnox in ambiguity.fortnox
        ]
    return found


def _name(value: object) -> str | None:
    return None if value is None else str(value)


async def match_tenant(
    tenant: TenantConfig,
    state: TenantState,
    webcrm: WebcrmClient,
    fortnox: FortnoxClient,
    decide: Decide,
    *,
    now: Callable[[], datetime] = utcnow,
    place: TenantPlace | None = None,
    decided_by: str = "match",
) -> TenantRun:
    """Propose pairs of existing records on both sides, store the proposals for review, and
    record the decisions taken on them.

    Nothing is written to either system: the next sync links the accepted pairs (and never
    pairs a rejected one automatically). The proposals stay in the store (see
    :mod:`webcrm_fortnox.store.proposals`), so they can be decided later, one by one.

    Args:
        tenant: the tenant's configuration.
        state: its state store (only match proposals and decisions are written).
        webcrm: its webCRM client.
        fortnox: its Fortnox client.
        decide: shown the proposals, returns the decisions (``--yes``: accept every unambiguous
            pair; a terminal: ask; neither: none).
        now: the clock Fortnox cursors are taken from.
        place: where the tenant's settings are written, named when one of them is at fault.
        decided_by: who decides, recorded with each decision.
    """
    organisations, customers = customer_sources(tenant, webcrm, fortnox, now=now)
    run = TenantRun(tenant.name)
    if not await _setup_is_complete(run, tenant, place, organisations):
        return run
    sources: Mapping[System, RecordSource] = {"webcrm": organisations, "fortnox": customers}
    try:
        run.matches = await propose_matches(customer_spec(tenant), state, sources)
    except ApiError as error:
        run.message = stopped_message(error, tenant, place)
        return run
    store = MatchProposals(state.db)
    pairs = proposed_pairs(run.matches)
    run.proposals = await store.propose(tenant.name, ENTITY, [p for _, p in pairs])
    ids = {(p.webcrm_id, p.fortnox_id): p.id for p in run.proposals}
    for pair, verdict in await decide(run.matches, ids):
        chosen = Verdict.ACCEPT if verdict is MatchVerdict.ACCEPTED else Verdict.REJECT
        await store.decide(tenant.name, ids[pair.webcrm.id, pair.fortnox.id], chosen, decided_by)
        run.decisions += 1
    return run
