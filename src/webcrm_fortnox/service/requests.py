"""Carrying out admin requests (:mod:`webcrm_fortnox.store.requests`) for the tenant one runs.

The admin page records what an operator asks for; whatever runs the tenant carries it out with
the same code as the CLI commands (:mod:`webcrm_fortnox.service.actions`, the registry's pause
and resume, a sync) and records the outcome:

- ``run``'s worker of a tenant looks for its requests each time it wakes
  (:func:`carry_out_pending`), so a request recorded while nothing runs waits until it starts;
- on ``worker`` processes, the dispatcher defers a job for a tenant with pending requests, and
  each sync job carries them out first (:func:`carry_out_in_job`), holding the tenant's locks;
- the service also resumes a paused registered tenant (no worker runs it while paused), and
  decides its match proposals, which need neither system (:func:`carry_out_for_paused`).

A request that cannot be carried out (an error gone, a proposal unknown, a system refusing) is
recorded ``failed`` with the reason; the worker goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack
from typing import Any, Protocol

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.engine.ports import ErrorState
from webcrm_fortnox.errors import ApiError
from webcrm_fortnox.service import actions
from webcrm_fortnox.service.connections import NotConnectedError, TenantClients
from webcrm_fortnox.service.job import JobContext, JobOutcome, sync_tenant_job
from webcrm_fortnox.service.runner import TenantPlace, TenantRun
from webcrm_fortnox.service.vault import TokenKeyError
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.proposals import Verdict
from webcrm_fortnox.store.queries import ReadModel
from webcrm_fortnox.store.registry import TenantRegistry
from webcrm_fortnox.store.registry import TenantState as RegistryState
from webcrm_fortnox.store.requests import AdminRequest, AdminRequests, RequestKind, RequestState

log = logging.getLogger(__name__)

#: Requests that need neither system nor a running sync: a paused tenant's are carried out too.
STORE_ONLY = (RequestKind.RESUME, RequestKind.ACCEPT, RequestKind.REJECT, RequestKind.CHOOSE)
_VERDICTS = {
    RequestKind.ACCEPT: Verdict.ACCEPT,
    RequestKind.REJECT: Verdict.REJECT,
    RequestKind.CHOOSE: Verdict.CHOOSE,
}
_SYNCS = {
    RequestKind.SYNC: (Mode.INCREMENTAL, "admin: sync now"),
    # The import reads everything and matches before creating, as a tenant's first sync does:
    # pairs decided after an earlier sync (whose records have not changed since) link too.
    RequestKind.IMPORT: (Mode.FULL, "admin: import"),
    RequestKind.FULL_SYNC: (Mode.FULL, "admin: full sync"),
}


class RequestError(ValueError):
    """A request cannot be carried out as asked (its outcome says why)."""


class TenantRunner(Protocol):
    """What runs one tenant, as carrying out its requests needs it (``run``'s worker).

    Attributes:
        tenant: the tenant's configuration.
        db: the state database.
        owner: names this process in the requests it claims.
        place: where the tenant's settings are written.
        lock: held while the tenant syncs (one sync at a time).
        reason: why its last sync did not complete.
    """

    tenant: TenantConfig
    db: StateDatabase
    owner: str
    place: TenantPlace | None
    lock: asyncio.Lock
    reason: str | None

    async def open(self) -> TenantClients:
        """The tenant's clients (opened once, kept between syncs)."""
        ...

    async def sync(self, mode: Mode | None, trigger: str) -> JobOutcome:
        """One sync of the tenant now, as a job."""
        ...


async def carry_out_pending(runner: TenantRunner) -> int:
    """Carry out the runner's tenant's pending requests, oldest first; returns how many."""
    requests = AdminRequests(runner.db)
    done = 0
    if not await requests.waiting(runner.tenant.name):
        return done  # the usual case: no write each time the worker wakes
    while (request := await requests.claim(runner.tenant.name, runner.owner)) is not None:
        await _carry_out(requests, request, _outcome(runner, request))
        done += 1
    return done


class _JobRunner:
    """A tenant's runner inside one job of a scheduler other than ``run`` (a ``worker``): its
    clients from the process's cache, held until the job ends; its syncs, jobs of their own."""

    def __init__(self, ctx: JobContext, tenant: TenantConfig, stack: AsyncExitStack) -> None:
        self.ctx = ctx
        self.tenant = tenant
        self.db = ctx.db
        self.owner = ctx.process
        self.place = ctx.places.get(tenant.name)
        self.lock = asyncio.Lock()
        self.reason: str | None = None
        self._stack = stack
        self._clients: TenantClients | None = None

    async def open(self) -> TenantClients:
        if self._clients is None:
            self._clients = await self._stack.enter_async_context(
                self.ctx.clients.hold(self.tenant)
            )
        return self._clients

    async def sync(self, mode: Mode | None, trigger: str) -> JobOutcome:
        outcome = await sync_tenant_job(self.ctx, self.tenant.name, trigger, mode=mode)
        self.reason = outcome.reason
        return outcome


async def carry_out_in_job(ctx: JobContext, tenant_name: str) -> int:
    """Carry out the tenant's pending requests inside a job (the caller holds the tenant's
    locks); returns how many. A tenant that is unknown, paused or removed carries none out
    here (:func:`carry_out_for_paused` takes a paused one's store-only requests)."""
    if not await AdminRequests(ctx.db).waiting(tenant_name):
        return 0
    tenant = await ctx.tenant(tenant_name)
    if isinstance(tenant, JobOutcome):
        return 0
    async with AsyncExitStack() as stack:
        return await carry_out_pending(_JobRunner(ctx, tenant, stack))


async def carry_out_for_paused(db: StateDatabase, owner: str) -> int:
    """Carry out the store-only requests (:data:`STORE_ONLY`) of paused registered tenants,
    which no worker runs; returns how many. The others wait until the tenant is resumed."""
    requests = AdminRequests(db)
    registry = TenantRegistry(db)
    done = 0
    for name in await requests.waiting_tenants(STORE_ONLY):
        row = await registry.row(name)
        if row is None or row.state is not RegistryState.PAUSED:
            continue
        while (request := await requests.claim(name, owner, STORE_ONLY)) is not None:
            await _carry_out(requests, request, _store_only(db, request))
            done += 1
    return done


async def _carry_out(
    requests: AdminRequests, request: AdminRequest, outcome: Coroutine[Any, Any, str]
) -> None:
    """Await ``outcome`` (carrying ``request`` out) and record how it went, whatever happens."""
    log.info(
        "admin request",
        extra={"tenant": request.tenant, "request": request.id, "kind": request.kind.value},
    )
    try:
        state, said = RequestState.DONE, await outcome
    except (RequestError, LookupError, NotConnectedError, TokenKeyError, ApiError) as error:
        # Told as the CLI tells them: what is missing or refused, in plain English.
        state, said = RequestState.FAILED, str(error)
    except Exception as error:
        log.exception("admin request failed", extra={"request": request.id})
        state, said = RequestState.FAILED, f"internal error: {type(error).__name__}: {error}"
    except BaseException:
        # The service stops: the request ends unfinished and is not carried out again blindly.
        await requests.finish(request.id, RequestState.FAILED, "interrupted: the service stopped")
        raise
    await requests.finish(request.id, state, said)


async def _outcome(runner: TenantRunner, request: AdminRequest) -> str:
    """Carry out one request with the tenant's runner; returns what was done."""
    kind, arguments = request.kind, request.arguments
    if kind in STORE_ONLY or kind is RequestKind.PAUSE:
        return await _store_only(runner.db, request)
    if kind in _SYNCS:
        mode, trigger = _SYNCS[kind]
        if (await runner.sync(mode, trigger)).completed:
            return f"{mode.value} sync completed"
        raise RequestError(f"the sync did not complete: {runner.reason or 'see status'}")
    state = runner.db.tenant(runner.tenant.name)
    async with runner.lock:
        clients = await runner.open()
        if kind is RequestKind.RETRY:
            given = arguments.get("error_ids")
            ids = None if given is None else await _open_errors(runner, _ids(given))
            runs = await actions.retry_errors(
                runner.tenant, state, clients, ids, place=runner.place
            )
            return _retried(runs)
        if kind is RequestKind.TAKE:
            side = arguments.get("side")
            if side not in ("webcrm", "fortnox"):
                raise RequestError(f"side must be webcrm or fortnox, not {side!r}")
            conflict_id = _id(arguments, "conflict_id")
            settled = await actions.settle_conflicts(
                runner.tenant, state, clients, side, conflict_id
            )
            if not settled:
                raise RequestError(f"no open conflict {conflict_id}")
            (outcome,) = settled
            if outcome.problem is not None:
                raise RequestError(str(outcome))
            return str(outcome)
    raise RequestError(f"unknown request kind {kind!r}")


async def _store_only(db: StateDatabase, request: AdminRequest) -> str:
    """The requests carried out in the store alone: decide a proposal, pause, resume."""
    kind = request.kind
    if kind in _VERDICTS:
        return await actions.decide_proposal(
            db.tenant(request.tenant),
            _id(request.arguments, "proposal_id"),
            _VERDICTS[kind],
            request.requested_by,
        )
    if kind is RequestKind.PAUSE:
        state = RegistryState.PAUSED
        reason = str(request.arguments.get("reason") or f"paused by {request.requested_by}")
    else:
        state, reason = RegistryState.ACTIVE, None
    if not await TenantRegistry(db).set_state(request.tenant, state, reason):
        raise RequestError(
            f"{request.tenant} is a tenant of the configuration file, not a registered one: "
            "change the file to stop or start it"
        )
    return f"{request.tenant}: {state.value}"


def _id(arguments: Mapping[str, Any], key: str) -> int:
    value = arguments.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RequestError(f"the request's {key} must be a whole number, not {value!r}")
    return value


def _ids(values: object) -> list[int]:
    if not isinstance(values, list) or not values:
        raise RequestError(f"the request's error_ids must be a list of ids, not {values!r}")
    return [_id({"id": value}, "id") for value in values]


async def _open_errors(runner: TenantRunner, ids: Sequence[int]) -> list[int]:
    """``ids``, each checked to be an open error of the runner's tenant."""
    model = ReadModel(runner.db)
    for error_id in ids:
        found = await model.error(error_id)
        if found is None or found.tenant != runner.tenant.name:
            raise RequestError(f"no error {error_id} of tenant {runner.tenant.name!r}")
        if found.error.state is not ErrorState.OPEN:
            raise RequestError(f"error {error_id} is no longer open: nothing to retry")
    return list(ids)


def _retried(runs: Sequence[TenantRun]) -> str:
    """What the retry cycles did, or why one stopped."""
    stopped = [run.reason for run in runs if run.stopped]
    if stopped:
        raise RequestError(f"the retry stopped: {stopped[0]}")
    counts: dict[str, int] = {}
    for run in runs:
        for result in run.results:
            for status, n in result.counts.items():
                counts[status] = counts.get(status, 0) + n
    shown = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()) if n)
    return f"retried: {shown or 'nothing left to retry'}"
