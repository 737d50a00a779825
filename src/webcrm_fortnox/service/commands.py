"""The sync commands as coroutines: ``plan``, ``sync --once``, ``match``, ``retry``, ``errors``,
``conflicts``.

The Typer layer (:mod:`webcrm_fortnox.cli`) loads the configuration and calls these; each takes
the tenants to act on, the process's :class:`Connector` and a Rich console, prints what it did
and returns the exit status (0 all synced or excluded, 3 some records need attention, 1 could not
complete).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.text import Text

from webcrm_fortnox.config.models import Config, TenantConfig
from webcrm_fortnox.domain.customer_spec import ENTITY, customer_spec
from webcrm_fortnox.engine.apply import RecordOutcome
from webcrm_fortnox.engine.matching import MatchResult, Pair
from webcrm_fortnox.engine.plan import Mode, system_name
from webcrm_fortnox.engine.ports import (
    Conflict,
    MatchVerdict,
    RecordError,
    RecordSource,
    System,
)
from webcrm_fortnox.engine.review import ReviewError, resolve_conflict
from webcrm_fortnox.engine.sync import Progress as ProgressCallback
from webcrm_fortnox.service import json_output, reports
from webcrm_fortnox.service.connect import OpenUrl, connect_fortnox, connect_webcrm
from webcrm_fortnox.service.connections import Connector, TenantClients
from webcrm_fortnox.service.daemon import ServiceOptions, SyncService
from webcrm_fortnox.service.job import JobContext, sync_tenant_job
from webcrm_fortnox.service.registry import Registry
from webcrm_fortnox.service.runner import (
    SyncOptions,
    TenantPlace,
    TenantRun,
    combined_exit_code,
    customer_record_sources,
    match_tenant,
    sync_tenant,
)
from webcrm_fortnox.service.status import print_status, tenant_status
from webcrm_fortnox.service.tenants import DEFAULT_CONCURRENCY, open_state, run_tenants
from webcrm_fortnox.store import StateDatabase, TenantState
from webcrm_fortnox.store.registry import TenantState as RegistryState
from webcrm_fortnox.store.service import ServiceStore
from webcrm_fortnox.transport.errors import ApiError

log = logging.getLogger(__name__)

#: Below this many actions a run is quick enough to need no progress bar.
PROGRESS_THRESHOLD = 20

Ask = Callable[[str], str]
Row = TypeVar("Row")


@dataclass(frozen=True)
class Command:
    """What every command works with.

    Attributes:
        config: the loaded configuration.
        tenants: the tenants to act on (``--tenant``, default all).
        connector: builds each tenant's clients.
        console: where to print.
        config_file: the file the configuration was read from (named in messages about one of
            its settings).
    """

    config: Config
    tenants: Sequence[TenantConfig]
    connector: Connector
    console: Console
    config_file: Path | None = None

    def place(self, tenant: TenantConfig) -> TenantPlace | None:
        """Where ``tenant``'s settings are written, when the file is known."""
        if self.config_file is None:
            return None
        names = [t.name for t in self.config.tenant]
        if tenant.name not in names:
            return None
        return TenantPlace(self.config_file, names.index(tenant.name))


class ProgressBars:
    """One Rich progress bar per tenant, shown only on a terminal and for long runs."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def callback(self, tenant: str) -> ProgressCallback | None:
        if self.progress is None:
            return None
        progress = self.progress

        def advance(done: int, total: int, outcome: RecordOutcome) -> None:
            if total < PROGRESS_THRESHOLD:
                return
            if tenant not in self.tasks:
                self.tasks[tenant] = progress.add_task(f"{tenant}: {outcome.action.entity}")
            progress.update(self.tasks[tenant], completed=done, total=total)

        return advance


@contextlib.contextmanager
def progress_bars(console: Console) -> Iterator[ProgressBars]:
    """Progress bars on ``console`` when it is a terminal; callbacks are ``None`` otherwise."""
    if not console.is_terminal:
        yield ProgressBars(None)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        yield ProgressBars(progress)


def _print_stopped(console: Console, runs: Sequence[TenantRun]) -> None:
    for run in runs:
        if run.stopped:
            reports.print_stopped(console, run)


async def plan(command: Command, *, full: bool, as_json: bool = False) -> int:
    """Print what ``sync --once`` would do (``as_json``: one JSON document); write nothing.

    Returns:
        1 when some tenant could not be planned, else 0.
    """
    mode = Mode.FULL if full else Mode.INCREMENTAL

    async def task(tenant: TenantConfig, state: TenantState, clients: TenantClients) -> TenantRun:
        options = SyncOptions(mode=mode, dry_run=True, now=clients.now, place=command.place(tenant))
        return await sync_tenant(tenant, state, clients.webcrm, clients.fortnox, options)

    async with open_state(command.config.state.url, read_only=True) as db:
        runs = await run_tenants(command.tenants, db, command.connector, task)
    if as_json:
        json_output.print_document(command.console, [json_output.plan_tenant(r) for r in runs])
        return 1 if any(run.stopped for run in runs) else 0
    for run in runs:
        if not run.stopped:
            reports.print_plan(command.console, run)
    _print_stopped(command.console, runs)
    return 1 if any(run.stopped for run in runs) else 0


def _report_runs(console: Console, runs: Sequence[TenantRun]) -> int:
    reports.print_summary(console, runs)
    for run in runs:
        reports.print_attention(console, run)
    _print_stopped(console, runs)
    code = combined_exit_code(runs)
    if code == 3:
        console.print(Text(reports.attention_hint(runs)))
    return code


async def sync_jobs(
    command: Command,
    db: StateDatabase,
    tenants: Sequence[TenantConfig],
    trigger: str,
    mode: Mode,
    *,
    retry_error: int | None = None,
    bars: ProgressBars | None = None,
) -> list[TenantRun]:
    """One :func:`sync_tenant_job` per tenant, at most :data:`DEFAULT_CONCURRENCY` at once, as
    ``run`` would sync them (with each tenant's lease, recording its cycle and schedule); the
    runs in the tenants' order. A tenant whose job fails never stops the others."""
    places = {t.name: place for t in tenants if (place := command.place(t)) is not None}
    actor = "sync --once" if trigger == "once" else trigger
    gate = asyncio.Semaphore(DEFAULT_CONCURRENCY)
    async with JobContext(
        db, command.connector, tenants=tenants, places=places, actor=actor
    ) as ctx:

        async def one(tenant: TenantConfig) -> TenantRun:
            progress = None if bars is None else bars.callback(tenant.name)
            async with gate:
                try:
                    outcome = await sync_tenant_job(
                        ctx,
                        tenant.name,
                        trigger,
                        mode=mode,
                        retry_error=retry_error,
                        progress=progress,
                    )
                except Exception as error:
                    # The state store failing for one tenant must not take the others down.
                    log.exception("tenant run failed", extra={"tenant": tenant.name})
                    message = f"internal error: {type(error).__name__}: {error}"
                    return TenantRun(tenant.name, message=message)
            return outcome.tenant_run()

        return list(await asyncio.gather(*(one(tenant) for tenant in tenants)))


async def sync_once(command: Command, *, full: bool) -> int:
    """Run one sync of every tenant and print the summary; returns the exit status."""
    mode = Mode.FULL if full else Mode.INCREMENTAL
    with progress_bars(command.console) as bars:
        async with open_state(command.config.state.url) as db:
            runs = await sync_jobs(command, db, command.tenants, "once", mode, bars=bars)
    return _report_runs(command.console, runs)


class NoSuchError(LookupError):
    """``retry ERROR_ID`` names no open error of the selected tenants."""


async def _tenants_with_errors(
    db: StateDatabase, tenants: Sequence[TenantConfig], error_id: int | None
) -> list[TenantConfig]:
    chosen = []
    for tenant in tenants:
        errors = await db.tenant(tenant.name).open_errors(ENTITY)
        if any(error_id is None or e.id == error_id for e in errors):
            chosen.append(tenant)
    return chosen


async def retry(command: Command, error_id: int | None) -> int:
    """Retry one stored error (``error_id``) or every open one (``None``).

    Raises:
        NoSuchError: ``error_id`` is not an open error of the selected tenants.
    """
    async with open_state(command.config.state.url) as db:
        tenants = await _tenants_with_errors(db, command.tenants, error_id)
        if error_id is not None and not tenants:
            raise NoSuchError(f"no open error {error_id}; `webcrm-fortnox errors` lists them")
        if not tenants:
            command.console.print(Text("No failing records to retry."))
            return 0

        runs = await sync_jobs(command, db, tenants, "retry", Mode.RETRY, retry_error=error_id)
    return _report_runs(command.console, runs)


async def _list_stored(
    command: Command,
    read: Callable[[TenantState], Awaitable[Sequence[Row]]],
    table: Callable[[Console, str, Sequence[Row]], None],
    entry: Callable[[str, Sequence[Row]], dict[str, Any]],
    *,
    as_json: bool,
) -> int:
    """Print what ``read`` finds in each selected tenant's state, as ``table``s or as one JSON
    document of ``entry``s; returns how many rows there were."""
    found = 0
    entries = []
    async with open_state(command.config.state.url, read_only=True, existing=True) as db:
        for tenant in command.tenants:
            rows = await read(db.tenant(tenant.name))
            found += len(rows)
            if as_json:
                entries.append(entry(tenant.name, rows))
            else:
                table(command.console, tenant.name, rows)
    if as_json:
        json_output.print_document(command.console, entries)
    return found


async def errors(command: Command, *, as_json: bool = False) -> int:
    """List every failing record of the selected tenants (``as_json``: one JSON document);
    3 when there is any, else 0."""

    async def read(state: TenantState) -> Sequence[RecordError]:
        return await state.open_errors()

    found = await _list_stored(
        command, read, reports.print_errors, json_output.errors_tenant, as_json=as_json
    )
    return 3 if found else 0


async def conflicts(command: Command, *, open_only: bool, as_json: bool = False) -> int:
    """List recorded conflicts (``open_only``: those waiting for a person; ``as_json``: one
    JSON document); always 0."""

    async def read(state: TenantState) -> Sequence[Conflict]:
        return await state.conflicts(open_only=open_only)

    await _list_stored(
        command, read, reports.print_conflicts, json_output.conflicts_tenant, as_json=as_json
    )
    return 0


def _accept_unambiguous(result: MatchResult) -> list[tuple[Pair, MatchVerdict]]:
    # A pair found by an earlier decision is already recorded.
    return [(pair, MatchVerdict.ACCEPTED) for pair in result.pairs if pair.key != "decision"]


def _ask_each(result: MatchResult, ask: Ask) -> list[tuple[Pair, MatchVerdict]]:
    candidates = [pair for pair in result.pairs if pair.key != "decision"]
    for ambiguity in result.ambiguous:
        candidates += [
            Pair(webcrm, fortnox, ambiguity.key)
            for webcrm in ambiguity.webcrm
            for fortnox in ambiguity.fortnox
        ]
    decided = []
    for pair in candidates:
        answer = ask(
            f"Same customer? webCRM {pair.webcrm.id} {pair.webcrm.fields.get('name') or ''} = "
            f"Fortnox {pair.fortnox.id} {pair.fortnox.fields.get('name') or ''} "
            f"(by {pair.key})"
        )
        if answer == "yes":
            decided.append((pair, MatchVerdict.ACCEPTED))
        elif answer == "no":
            decided.append((pair, MatchVerdict.REJECTED))
    return decided


async def match(
    command: Command, *, accept_all: bool, ask: Ask | None, as_json: bool = False
) -> int:
    """Propose pairs of existing records per tenant and record the decisions.

    Args:
        command: what to act on.
        accept_all: ``--yes``: accept every unambiguous pair without asking.
        ask: asks a person one question and returns ``"yes"``, ``"no"`` or ``"skip"``; ``None``
            when there is no terminal, in which case the proposals are listed and nothing is
            recorded.
        as_json: print one JSON document instead of tables (and ask nothing).

    Returns:
        1 when some tenant could not be read, else 0.
    """
    console = command.console

    async def decide(tenant: str, result: MatchResult) -> list[tuple[Pair, MatchVerdict]]:
        if not as_json:
            reports.print_matches(console, tenant, result)
        if accept_all:
            return _accept_unambiguous(result)
        if as_json:
            return []  # a document is for a program: nobody to ask
        if ask is None:
            console.print(
                Text(
                    "No terminal to ask on: nothing recorded. `webcrm-fortnox match --yes` "
                    "accepts every unambiguous pair."
                )
            )
            return []
        return _ask_each(result, ask)

    async def task(tenant: TenantConfig, state: TenantState, clients: TenantClients) -> TenantRun:
        async def deciding(result: MatchResult) -> list[tuple[Pair, MatchVerdict]]:
            return await decide(tenant.name, result)

        run = await match_tenant(
            tenant,
            state,
            clients.webcrm,
            clients.fortnox,
            deciding,
            now=clients.now,
            place=command.place(tenant),
        )
        if run.decisions and not as_json:
            full = await state.cursor("webcrm", ENTITY) is not None
            how = "`webcrm-fortnox sync --once --full`" if full else "`webcrm-fortnox sync --once`"
            console.print(
                Text(f"{tenant.name}: {run.decisions} decision(s) recorded; {how} applies them.")
            )
        return run

    async with open_state(command.config.state.url) as db:
        # One tenant at a time: the questions of two tenants must not interleave.
        runs = await run_tenants(command.tenants, db, command.connector, task, concurrency=1)
    if as_json:
        json_output.print_document(console, [json_output.match_tenant(run) for run in runs])
    else:
        _print_stopped(console, runs)
    return 1 if any(run.stopped for run in runs) else 0


async def run_service(command: Command, options: ServiceOptions) -> int:
    """``run``: every selected tenant until SIGTERM or Ctrl-C; 0 after a clean stop."""
    places = {t.name: place for t in command.tenants if (place := command.place(t)) is not None}
    options = dataclasses.replace(options, places={**places, **options.places})
    # The registry's tenants are the service's to start (and stop) as the registry changes.
    in_file = {t.name for t in command.config.tenant}
    fixed = [t for t in command.tenants if t.name in in_file]
    async with open_state(command.config.state.url) as db:
        service = SyncService(fixed, db, command.connector, options)
        return await service.serve_until_signalled()


async def status(command: Command, *, as_json: bool, everyone: bool = True) -> int:
    """``status``: per tenant, how the sync stands (``as_json``: one JSON document); with
    ``everyone``, registered tenants that are paused or removed too."""
    async with open_state(command.config.state.url, read_only=True, existing=True) as db:
        vault = command.connector.vault(ServiceStore(db))
        statuses = [await tenant_status(db, tenant, vault) for tenant in command.tenants]
        if everyone:
            # Registered tenants a person paused or removed are not synced, but are shown.
            for held in await Registry(db, command.connector.keys).tenants(removed=True):
                if held.row.state is not RegistryState.ACTIVE and held.config is not None:
                    statuses.append(
                        await tenant_status(db, held.config, vault, registered=held.row)
                    )
    if as_json:
        command.console.print_json(json.dumps({"tenants": statuses}))
    elif not statuses:
        command.console.print(
            Text("No tenants: add a [[tenant]] table, or `webcrm-fortnox tenants add` one.")
        )
    else:
        print_status(command.console, statuses)
    return 0


async def connect(command: Command, system: str, *, open_url: OpenUrl, port: int) -> int:
    """``connect fortnox|webcrm`` for each selected tenant; 1 when any needs attention."""
    code = 0
    async with open_state(command.config.state.url) as db:
        vault = command.connector.vault(ServiceStore(db))
        for tenant in command.tenants:
            if system == "webcrm":
                result = await connect_webcrm(tenant, command.connector, command.console)
            else:
                result = await connect_fortnox(
                    tenant, command.connector, vault, command.console, open_url=open_url, port=port
                )
            code = max(code, result)
    return code


async def take_side(command: Command, winner: System, conflict_id: int | None) -> int:
    """``conflicts --take``: settle one open conflict (or all) with ``winner``'s value.

    Raises:
        NoSuchError: ``conflict_id`` is not an open conflict of the selected tenants.
    """
    settled = 0

    async def task(tenant: TenantConfig, state: TenantState, clients: TenantClients) -> TenantRun:
        nonlocal settled
        run = TenantRun(tenant.name)
        sources = customer_record_sources(tenant, clients.webcrm, clients.fortnox, now=clients.now)
        by_system: dict[System, RecordSource] = {"webcrm": sources[0], "fortnox": sources[1]}
        for conflict in await state.conflicts(ENTITY, open_only=True):
            if conflict_id is not None and conflict.id != conflict_id:
                continue
            try:
                await resolve_conflict(customer_spec(tenant), state, by_system, conflict.id, winner)
            except (ReviewError, ApiError) as error:
                command.console.print(Text(f"{tenant.name}: conflict {conflict.id}: {error}"))
                continue
            settled += 1
            command.console.print(
                Text(
                    f"{tenant.name}: conflict {conflict.id} ({conflict.report.field}) settled: "
                    f"{system_name(winner)}'s value kept on both sides"
                )
            )
        return run

    async with open_state(command.config.state.url) as db:
        runs = await run_tenants(command.tenants, db, command.connector, task)
    _print_stopped(command.console, runs)
    if conflict_id is not None and not settled:
        raise NoSuchError(f"no open conflict {conflict_id}; `webcrm-fortnox conflicts` lists them")
    if conflict_id is None and not settled:
        command.console.print(Text("No open conflicts."))
    return 1 if any(run.stopped for run in runs) else 0
