"""The ``webcrm-fortnox`` command line.

The sync commands (``plan``, ``sync --once``, ``match``, ``retry``, ``errors``, ``conflicts``)
load the configuration, then hand over to :mod:`webcrm_fortnox.service.commands`. Tests can pass
a :class:`CliContext` as Click's ``obj`` to reach in-process emulators and to answer ``match``'s
questions.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import click
import typer

from webcrm_fortnox import __version__

if TYPE_CHECKING:
    from rich.console import Console

    from webcrm_fortnox.service.commands import Command
    from webcrm_fortnox.service.connect import OpenUrl
    from webcrm_fortnox.service.connections import Connector
    from webcrm_fortnox.service.tenant_commands import RegistryCommand

app = typer.Typer(
    name="webcrm-fortnox",
    help="Keep webCRM and Fortnox in step, both ways, and emulate both APIs for trying it out.",
    no_args_is_help=True,
    add_completion=False,
)
emulate_app = typer.Typer(
    help="Serve a faithful local emulator of a vendor API (sandbox, demo and test double).",
    no_args_is_help=True,
)
app.add_typer(emulate_app, name="emulate")

HostOption = Annotated[str, typer.Option(help="Address to listen on.")]
DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="SQLite file that keeps the emulator's state across restarts."),
]
SeedOption = Annotated[
    str, typer.Option("--seed", help="Start with 'demo' data or 'empty'.", metavar="demo|empty")
]
NoRateLimitOption = Annotated[
    bool, typer.Option("--no-rate-limit", help="Do not enforce the vendor's rate limit.")
]


def _check_seed(seed: str) -> str:
    if seed not in ("demo", "empty"):
        raise typer.BadParameter("must be 'demo' or 'empty'", param_hint="--seed")
    return seed


def _serve(app: Any, host: str, port: int, listening: Callable[[int], None]) -> None:
    """Serve an emulator; a port that cannot be listened on is one line and exit status 1."""
    from webcrm_fortnox.emulation import serve
    from webcrm_fortnox.transport.listening import PortUnavailableError

    try:
        serve(app, host, port, listening=listening)
    except PortUnavailableError as error:
        raise _fail(f"{error}; choose another with --port") from None


@emulate_app.command("fortnox")
def emulate_fortnox(
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8781,
    data: DataOption = None,
    client_id: Annotated[str, typer.Option(help="OAuth client id it accepts.")] = "emulator",
    client_secret: Annotated[
        str, typer.Option(help="OAuth client secret it accepts.")
    ] = "emulator-secret",
    tenant_id: Annotated[int, typer.Option(help="Tenant id (database number) of the company.")] = 1,
    seed: SeedOption = "demo",
    no_rate_limit: NoRateLimitOption = False,
) -> None:
    """Serve the Fortnox API v3 emulator: REST under /3/, OAuth under /oauth-v1/, the WebSocket
    change feed at /topics-v1 and test controls under /_emulator/."""
    from webcrm_fortnox.fortnox.emulator import create_app

    fortnox = create_app(
        data=data,
        client_id=client_id,
        client_secret=client_secret,
        tenant_id=tenant_id,
        seed=_check_seed(seed),
        rate_limit=not no_rate_limit,
    )

    def listening(bound: int) -> None:
        typer.echo(f"Fortnox emulator on http://{host}:{bound}")
        typer.echo(
            f"  client id {client_id}, client secret {client_secret}, tenant id {tenant_id}: "
            "POST /oauth-v1/token with grant_type=client_credentials, the id and secret as Basic "
            "auth and the tenant id in the TenantId header"
        )

    _serve(fortnox, host, port, listening)


@emulate_app.command("webcrm")
def emulate_webcrm(
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8782,
    data: DataOption = None,
    api_token: Annotated[
        str, typer.Option(help="Application token (authCode) it accepts.")
    ] = "00000000-0000-4000-8000-000000000001",
    seed: SeedOption = "demo",
    no_rate_limit: NoRateLimitOption = False,
) -> None:
    """Serve the webCRM REST API emulator: /Auth, /Organisations, /Deliveries, /Queries and the
    rest, with test controls under /_emulator/."""
    from webcrm_fortnox.webcrm.emulator import create_app

    webcrm = create_app(
        data=data, api_token=api_token, seed=_check_seed(seed), rate_limit=not no_rate_limit
    )

    def listening(bound: int) -> None:
        typer.echo(f"webCRM emulator on http://{host}:{bound}")
        typer.echo(f"  API token {api_token}: POST /Auth/ApiLogin with the form field authCode")

    _serve(webcrm, host, port, listening)


# --- the sync commands -----------------------------------------------------------------------


@dataclass
class CliContext:
    """What a sync command runs with; tests pass their own as Click's ``obj``.

    Attributes:
        connector: builds each tenant's clients (tests: to in-process emulators); by default
            one that keeps Fortnox tokens under the key beside the configuration file.
        interactive: whether ``match`` may ask questions (``None``: when stdin is a terminal).
        open_url: how ``connect fortnox`` opens the authorize address (tests approve in-process).
    """

    connector: Connector | None = None
    interactive: bool | None = None
    open_url: OpenUrl | None = None


def _connector(context: CliContext, config_file: Path | None) -> Connector:
    if context.connector is not None:
        return context.connector
    import os

    from webcrm_fortnox.config import config_path
    from webcrm_fortnox.service.connections import Connector
    from webcrm_fortnox.service.vault import KeySource

    return Connector(keys=KeySource.from_environment(os.environ, config_path(config_file)))


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="The configuration file (default: $WEBCRM_FORTNOX_CONFIG, else webcrm-fortnox.toml).",
        metavar="FILE",
    ),
]
TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="Act on this tenant only (default: all).")
]
FullOption = Annotated[
    bool, typer.Option("--full", help="Compare every record on both sides, not only changes.")
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="One JSON document (its shape is in the README).")
]


def _console() -> Console:
    """Where a command prints: a terminal wraps at its width; into a pipe or file, a message
    stays on one line however long (Rich would otherwise break it at 80 columns)."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console.soft_wrap = True
    return console


#: Where the main command keeps a ``--config`` given before the command (Click shares ``meta``
#: with every command's context).
_CONFIG_BEFORE = "webcrm_fortnox.config"


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"webcrm-fortnox {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    config: ConfigOption = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    # --config is taken before the command too (`webcrm-fortnox --config FILE status`); one
    # given after the command wins.
    if config is not None:
        ctx.meta[_CONFIG_BEFORE] = config


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


def _quiet_logs() -> None:
    """Keep the engine's log records (``record failed``, ``run aborted``) off a command's
    standard error: the command prints what happened and, when it stops, one line saying why.
    Without a handler, Python's last resort would print each record bare beside that line.
    ``run`` (and ``--log-level``) send them to its JSON log instead."""
    import logging

    package = logging.getLogger("webcrm_fortnox")
    if not any(isinstance(h, logging.NullHandler) for h in package.handlers):
        package.addHandler(logging.NullHandler())


def _run(
    ctx: typer.Context,
    config_file: Path | None,
    tenant: str | None,
    action: Callable[[Command], Coroutine[Any, Any, int]],
    *,
    allow_none: bool = False,
) -> None:
    """Load the configuration and the registered tenants, run ``action`` on the chosen ones,
    exit with its status; with ``allow_none``, also when there is no tenant yet."""
    from webcrm_fortnox.config import ConfigError, config_path, load_config
    from webcrm_fortnox.service.commands import Command, NoSuchError
    from webcrm_fortnox.service.connect import ConnectError
    from webcrm_fortnox.service.registry import RegistryError, command_tenants
    from webcrm_fortnox.service.tenants import StateStoreError, UnknownTenantError
    from webcrm_fortnox.service.vault import TokenKeyError

    context = ctx.obj if isinstance(ctx.obj, CliContext) else CliContext()
    _quiet_logs()
    if config_file is None:
        config_file = ctx.meta.get(_CONFIG_BEFORE)
    try:
        config = load_config(config_file)
    except ConfigError as error:
        raise _fail(str(error)) from None
    path = config_path(config_file)
    connector = _connector(context, config_file)

    async def main() -> int:
        chosen = await command_tenants(config, path, connector.keys, tenant)
        for reason in chosen.skipped:
            typer.echo(f"skipped: {reason}", err=True)
        tenants = chosen.tenants
        if not tenants and not allow_none:
            if chosen.skipped:
                return 1
            raise RegistryError(
                f"{path}: has no [[tenant]] table and no tenant is registered: add one per "
                "company, or register them with `webcrm-fortnox tenants add` (see the README)"
            )
        command = Command(config, tenants, connector, _console(), config_file=path)
        code = await action(command)
        # A tenant left out could not even start: as for a tenant that stopped, the exit is 1.
        return 1 if chosen.skipped and code == 0 else code

    try:
        code = asyncio.run(main())
    except StateStoreError as error:
        raise _fail(f"{path}: state.url: {error}") from None
    except (NoSuchError, ConnectError, TokenKeyError, RegistryError, UnknownTenantError) as error:
        raise _fail(str(error)) from None
    raise typer.Exit(code)


@app.command()
def plan(
    ctx: typer.Context,
    config: ConfigOption = None,
    tenant: TenantOption = None,
    full: FullOption = False,
    as_json: JsonOption = False,
) -> None:
    """Print the actions a sync would take (create, update with a field-by-field diff, link,
    conflict, skip with reason); write nothing anywhere."""
    from webcrm_fortnox.service import commands

    _run(ctx, config, tenant, lambda command: commands.plan(command, full=full, as_json=as_json))


@app.command()
def sync(
    ctx: typer.Context,
    config: ConfigOption = None,
    tenant: TenantOption = None,
    once: Annotated[bool, typer.Option("--once", help="Run one sync, then exit.")] = False,
    full: FullOption = False,
) -> None:
    """Sync customers, articles and documents (deliveries, orders and invoices) both ways once
    (--once) and print a summary.

    Exit status: 0 every record synced or was excluded by configuration; 3 some records failed
    or need a decision (see `errors` and `conflicts`); 1 the run could not complete
    (configuration, credentials, an unreachable system)."""
    from webcrm_fortnox.service import commands

    if not once:
        typer.echo("give --once, or use `webcrm-fortnox run` for the continuous service", err=True)
        raise typer.Exit(2)
    _run(ctx, config, tenant, lambda command: commands.sync_once(command, full=full))


def _ask_on_terminal(question: str) -> str:
    answer: str = click.prompt(
        question, type=click.Choice(["yes", "no", "skip"]), default="skip", show_choices=True
    )
    return answer


@app.command()
def match(
    ctx: typer.Context,
    config: ConfigOption = None,
    tenant: TenantOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Accept every unambiguous pair without asking.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="One JSON document; asks nothing (records only with --yes)."),
    ] = False,
    list_only: Annotated[
        bool,
        typer.Option("--list", help="List the stored proposals and their states; read nothing."),
    ] = False,
    accept: Annotated[
        list[int] | None,
        typer.Option("--accept", help="Accept the stored proposal of this ID.", metavar="ID"),
    ] = None,
    reject: Annotated[
        list[int] | None,
        typer.Option("--reject", help="Reject the stored proposal of this ID.", metavar="ID"),
    ] = None,
    choose: Annotated[
        list[int] | None,
        typer.Option(
            "--choose",
            help="Choose this candidate pair among ambiguous ones (the candidates sharing a "
            "record with it are rejected).",
            metavar="ID",
        ),
    ] = None,
) -> None:
    """Pair records that already exist on both sides; show pairs, one-sided records and
    ambiguous candidates, and store them as proposals to review; record the decisions the next
    sync applies. --list shows the stored proposals; --accept/--reject/--choose ID decide them
    one by one (each may be given several times)."""
    from webcrm_fortnox.service import commands
    from webcrm_fortnox.store.proposals import Verdict

    decisions = [
        (proposal_id, verdict)
        for verdict, ids in (
            (Verdict.ACCEPT, accept),
            (Verdict.REJECT, reject),
            (Verdict.CHOOSE, choose),
        )
        for proposal_id in ids or ()
    ]
    if decisions:
        if yes or list_only or as_json:
            typer.echo("--accept, --reject and --choose go with no other option", err=True)
            raise typer.Exit(2)
        by = f"{getpass.getuser()} (match)"
        _run(
            ctx,
            config,
            tenant,
            lambda command: commands.decide_proposals(command, decisions, decided_by=by),
        )
        return
    if list_only:
        if yes:
            typer.echo("--list reads the stored proposals; it does not go with --yes", err=True)
            raise typer.Exit(2)
        _run(ctx, config, tenant, lambda command: commands.list_proposals(command, as_json=as_json))
        return
    context = ctx.obj if isinstance(ctx.obj, CliContext) else CliContext()
    interactive = sys.stdin.isatty() if context.interactive is None else context.interactive
    ask = _ask_on_terminal if interactive else None
    _run(
        ctx,
        config,
        tenant,
        lambda command: commands.match(command, accept_all=yes, ask=ask, as_json=as_json),
    )


@app.command()
def retry(
    ctx: typer.Context,
    error_id: Annotated[
        int | None, typer.Argument(help="The error to retry (its ID in `errors`).")
    ] = None,
    all_errors: Annotated[bool, typer.Option("--all", help="Retry every failing record.")] = False,
    config: ConfigOption = None,
    tenant: TenantOption = None,
) -> None:
    """Sync failing records again: one by its ID, or all of them with --all."""
    from webcrm_fortnox.service import commands

    if (error_id is None) == (not all_errors):
        typer.echo("give an error ID or --all (not both)", err=True)
        raise typer.Exit(2)
    _run(ctx, config, tenant, lambda command: commands.retry(command, error_id))


@app.command()
def errors(
    ctx: typer.Context,
    config: ConfigOption = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """List failing records: record and its name, field, vendor code and message, and the
    reason in plain English. Exit status 3 when there is any."""
    from webcrm_fortnox.service import commands

    _run(ctx, config, tenant, lambda command: commands.errors(command, as_json=as_json))


@app.command()
def conflicts(
    ctx: typer.Context,
    config: ConfigOption = None,
    tenant: TenantOption = None,
    open_only: Annotated[
        bool, typer.Option("--open", help="Only conflicts waiting for a person.")
    ] = False,
    take: Annotated[
        str | None,
        typer.Option(
            "--take",
            help="Settle open conflicts with this side's value, written to the other side.",
            metavar="webcrm|fortnox",
        ),
    ] = None,
    conflict_id: Annotated[
        int | None, typer.Argument(help="With --take: only this conflict (its ID in the list).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List fields both sides changed, with both values and how each was settled; settle open
    ones with --take webcrm|fortnox (one by its ID, or all)."""
    from webcrm_fortnox.service import commands

    if take is None:
        if conflict_id is not None:
            typer.echo("a conflict ID goes with --take webcrm|fortnox", err=True)
            raise typer.Exit(2)
        _run(
            ctx,
            config,
            tenant,
            lambda command: commands.conflicts(command, open_only=open_only, as_json=as_json),
        )
        return
    if as_json:
        typer.echo("--json lists conflicts; it does not go with --take", err=True)
        raise typer.Exit(2)
    if take not in ("webcrm", "fortnox"):
        raise typer.BadParameter("must be 'webcrm' or 'fortnox'", param_hint="--take")
    winner: Literal["webcrm", "fortnox"] = "webcrm" if take == "webcrm" else "fortnox"
    _run(ctx, config, tenant, lambda command: commands.take_side(command, winner, conflict_id))


@app.command()
def run(
    ctx: typer.Context,
    config: ConfigOption = None,
    tenant: TenantOption = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address of the /metrics, /healthz and hooks server.")
    ] = "127.0.0.1",
    metrics_port: Annotated[int, typer.Option(help="Port of that server (0: none).")] = 9464,
    callback_url: Annotated[
        str | None,
        typer.Option(
            help="Public address of that server: webCRM hooks then wake tenants at once.",
            metavar="URL",
        ),
    ] = None,
    full_every: Annotated[
        float, typer.Option(help="Hours between full reconciliations (default nightly).")
    ] = 24.0,
    no_feed: Annotated[
        bool, typer.Option("--no-feed", help="Poll Fortnox instead of its change feed.")
    ] = False,
    registry_poll: Annotated[
        float,
        typer.Option(
            help="Seconds between looks at the tenant registry: tenants registered, paused or "
            "removed meanwhile start or stop within one.",
            metavar="SECONDS",
        ),
    ] = 30.0,
    log_level: Annotated[
        str,
        typer.Option(
            help="DEBUG, INFO, WARNING or ERROR (any case); the libraries' request lines only "
            "at DEBUG.",
            metavar="LEVEL",
        ),
    ] = "INFO",
) -> None:
    """Run every tenant until stopped (the file's and the registry's, following the registry as
    it changes): a full cycle every sync_interval_seconds, syncs as soon as Fortnox announces a
    change or webCRM shows one, metrics and health over HTTP, JSON logs on standard error.
    SIGTERM or Ctrl-C finishes the record in hand and exits 0."""
    from webcrm_fortnox.service import commands
    from webcrm_fortnox.service.daemon import ServiceOptions
    from webcrm_fortnox.service.job import WorkerSettings
    from webcrm_fortnox.transport.listening import PortUnavailableError

    async def start(command: Command) -> int:
        _log_to_json(command, log_level)
        options = ServiceOptions(
            worker=WorkerSettings(full_every=full_every * 3600),
            metrics_host=metrics_host,
            metrics_port=metrics_port or None,
            callback_url=callback_url,
            feed=not no_feed,
            registry_poll=registry_poll,
            only_tenant=tenant,
        )
        try:
            return await commands.run_service(command, options)
        except PortUnavailableError as error:
            typer.echo(
                f"{error}; choose another with --metrics-port (0 serves no metrics)", err=True
            )
            return 1

    _run(ctx, config, tenant, start, allow_none=True)


@app.command()
def worker(
    ctx: typer.Context,
    config: ConfigOption = None,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Syncs this process runs at once.", metavar="N")
    ] = 4,
    metrics_host: Annotated[
        str, typer.Option(help="Address of the /metrics and /healthz server.")
    ] = "127.0.0.1",
    metrics_port: Annotated[int, typer.Option(help="Port of that server (0: none).")] = 9465,
    full_every: Annotated[
        float, typer.Option(help="Hours between full reconciliations (default nightly).")
    ] = 24.0,
    log_level: Annotated[
        str, typer.Option(help="DEBUG, INFO, WARNING or ERROR (any case).", metavar="LEVEL")
    ] = "INFO",
) -> None:
    """Run tenants' syncs as jobs in the PostgreSQL state store, beside any number of other
    workers on any machines (the README's "Run at scale"): each tenant's cycles on time, one
    sync of a tenant at a time, the jobs of a killed worker taken over. Start `feed` once
    beside them for Fortnox's change feed and webCRM's changes. SIGTERM or Ctrl-C finishes the
    record in hand and exits 0."""
    from webcrm_fortnox.service.job import WorkerSettings
    from webcrm_fortnox.service.jobs import JobQueueError, WorkerOptions, worker_command
    from webcrm_fortnox.transport.listening import PortUnavailableError

    async def start(command: Command) -> int:
        _log_to_json(command, log_level)
        options = WorkerOptions(
            concurrency=concurrency,
            sync=WorkerSettings(full_every=full_every * 3600),
            metrics_host=metrics_host,
            metrics_port=metrics_port or None,
        )
        try:
            return await worker_command(command, options)
        except JobQueueError as error:
            typer.echo(str(error), err=True)
            return 1
        except PortUnavailableError as error:
            typer.echo(
                f"{error}; choose another with --metrics-port (0 serves no metrics)", err=True
            )
            return 1

    _run(ctx, config, None, start, allow_none=True)


@app.command()
def feed(
    ctx: typer.Context,
    config: ConfigOption = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address of the /metrics and /healthz server.")
    ] = "127.0.0.1",
    metrics_port: Annotated[int, typer.Option(help="Port of that server (0: none).")] = 9466,
    no_feed: Annotated[
        bool, typer.Option("--no-feed", help="Poll Fortnox instead of its change feed.")
    ] = False,
    log_level: Annotated[
        str, typer.Option(help="DEBUG, INFO, WARNING or ERROR (any case).", metavar="LEVEL")
    ] = "INFO",
) -> None:
    """Follow the changes of every tenant for the `worker` processes (the README's "Run at
    scale"): one Fortnox change-feed connection per integration for all its companies, and
    webCRM's cheap poll per tenant, each change deferring the tenant's sync job. Start two for
    a standby: one leads each integration (a PostgreSQL advisory lock), the other takes over
    when it goes. SIGTERM or Ctrl-C stops it and exits 0."""
    from webcrm_fortnox.service.feeds import FeedOptions, feed_command
    from webcrm_fortnox.service.jobs import JobQueueError
    from webcrm_fortnox.transport.listening import PortUnavailableError

    async def start(command: Command) -> int:
        _log_to_json(command, log_level)
        options = FeedOptions(
            metrics_host=metrics_host, metrics_port=metrics_port or None, no_fortnox_feed=no_feed
        )
        try:
            return await feed_command(command, options)
        except JobQueueError as error:
            typer.echo(str(error), err=True)
            return 1
        except PortUnavailableError as error:
            typer.echo(
                f"{error}; choose another with --metrics-port (0 serves no metrics)", err=True
            )
            return 1

    _run(ctx, config, None, start, allow_none=True)


def _log_to_json(command: Command, level: str) -> None:
    """JSON logs with every secret of the configuration masked."""
    from webcrm_fortnox.service.logs import Redactor, setup_logging

    redactor = Redactor()
    for tenant in command.tenants:
        redactor.add(
            tenant.webcrm.api_token.get_secret_value(),
            tenant.fortnox.client_secret.get_secret_value(),
        )
    setup_logging(redactor, level=level.upper())


@app.command()
def status(
    ctx: typer.Context,
    config: ConfigOption = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per tenant: last and next cycle, records in sync / excluded / failing per entity, open
    conflicts, connection health (paused: by whom and why) and propagation lag; registered
    tenants that are paused or removed too."""
    from webcrm_fortnox.service import commands

    def show(command: Command) -> Coroutine[Any, Any, int]:
        return commands.status(command, as_json=as_json, everyone=tenant is None)

    _run(ctx, config, tenant, show, allow_none=True)


@app.command()
def connect(
    ctx: typer.Context,
    system: Annotated[str, typer.Argument(help="fortnox or webcrm.", metavar="fortnox|webcrm")],
    config: ConfigOption = None,
    tenant: TenantOption = None,
    port: Annotated[
        int,
        typer.Option(
            help="Loopback port of the redirect (register http://127.0.0.1:PORT/callback)."
        ),
    ] = 8765,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the address to open.")
    ] = False,
) -> None:
    """Connect Fortnox (authorization code; tokens stored encrypted) or check webCRM's API
    token, and check the licences, scopes and plan the sync needs."""
    from webcrm_fortnox.service import commands
    from webcrm_fortnox.service.connect import open_in_browser

    if system not in ("fortnox", "webcrm"):
        raise typer.BadParameter("must be 'fortnox' or 'webcrm'", param_hint="SYSTEM")
    context = ctx.obj if isinstance(ctx.obj, CliContext) else CliContext()

    async def print_only(url: str) -> None:
        return None

    opener = context.open_url or (print_only if no_browser else open_in_browser)
    _run(
        ctx,
        config,
        tenant,
        lambda command: commands.connect(command, system, open_url=opener, port=port),
    )


# --- the tenant registry ---------------------------------------------------------------------

tenants_app = typer.Typer(
    help="Tenants registered in the state store (beside the tenant tables of the file).",
    no_args_is_help=True,
)
app.add_typer(tenants_app, name="tenants")
NameArgument = Annotated[str, typer.Argument(help="The tenant's name.", metavar="NAME")]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Why, shown by `tenants list` and `status`.")
]


def _registry(
    ctx: typer.Context,
    config_file: Path | None,
    action: Callable[[RegistryCommand], Coroutine[Any, Any, int]],
) -> None:
    """Load the configuration and run a ``tenants`` command; a refusal exits 1 with why."""
    from webcrm_fortnox.config import ConfigError, config_path, load_config
    from webcrm_fortnox.service.registry import RegistryError
    from webcrm_fortnox.service.tenant_commands import RegistryCommand
    from webcrm_fortnox.service.tenants import StateStoreError
    from webcrm_fortnox.service.vault import TokenKeyError

    context = ctx.obj if isinstance(ctx.obj, CliContext) else CliContext()
    path = config_path(config_file)
    try:
        config = load_config(config_file)
        keys = _connector(context, config_file).keys
        code = asyncio.run(action(RegistryCommand(config, path, keys, _console())))
    except StateStoreError as error:
        raise _fail(f"{path}: state.url: {error}") from None
    except (ConfigError, RegistryError, TokenKeyError) as error:
        raise _fail(str(error)) from None
    raise typer.Exit(code)


@tenants_app.command("add")
def tenants_add(
    ctx: typer.Context,
    name: NameArgument,
    webcrm_token: Annotated[
        str,
        typer.Option(help="webCRM application token, or env:NAME.", prompt=True, hide_input=True),
    ],
    fortnox_client_id: Annotated[str, typer.Option(help="Fortnox integration client id.")],
    fortnox_client_secret: Annotated[
        str,
        typer.Option(help="Its client secret, or env:NAME.", prompt=True, hide_input=True),
    ],
    customer_type: Annotated[
        list[str], typer.Option(help="A webCRM Type that syncs (repeat for more).")
    ],
    fortnox_tenant_id: Annotated[
        int | None, typer.Option(help="The company's TenantId (service accounts).")
    ] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Any other setting of the tenant table: KEY=VALUE, VALUE in TOML "
            "(e.g. --set fortnox.auth=authorization-code --set sync_interval_seconds=600).",
            metavar="KEY=VALUE",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Register one tenant (a webCRM system and a Fortnox company); its secrets are stored
    encrypted with the key of the Fortnox tokens."""
    from webcrm_fortnox.config.tenant_tables import TenantTableError
    from webcrm_fortnox.service import tenant_commands

    try:
        table = tenant_commands.parse_assignments(assignments or [])
    except TenantTableError as error:
        raise _fail(f"tenants add {name}: --set {error}") from None
    table = {
        **table,
        "name": name,
        "customer_types": customer_type,
        "webcrm": {**table.get("webcrm", {}), "api_token": webcrm_token},
        "fortnox": {
            **table.get("fortnox", {}),
            "client_id": fortnox_client_id,
            "client_secret": fortnox_client_secret,
            **({} if fortnox_tenant_id is None else {"tenant_id": fortnox_tenant_id}),
        },
    }
    _registry(ctx, config, lambda command: tenant_commands.add(command, table))


@tenants_app.command("import")
def tenants_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A TOML file of tenant tables.", metavar="FILE")],
    config: ConfigOption = None,
) -> None:
    """Register every tenant table of FILE (a company's configuration file will do), all or
    none; tenants registered already get the file's settings."""
    from webcrm_fortnox.service import tenant_commands

    _registry(ctx, config, lambda command: tenant_commands.import_file(command, file))


@tenants_app.command("list")
def tenants_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
    removed: Annotated[bool, typer.Option("--removed", help="Include removed tenants.")] = False,
    config: ConfigOption = None,
) -> None:
    """Every tenant, from the file and the registry: where it is defined, whether it runs, its
    Fortnox integration and company. Secrets are never shown."""
    from webcrm_fortnox.service import tenant_commands

    _registry(
        ctx,
        config,
        lambda command: tenant_commands.list_tenants(command, as_json=as_json, removed=removed),
    )


@tenants_app.command("show")
def tenants_show(ctx: typer.Context, name: NameArgument, config: ConfigOption = None) -> None:
    """One tenant's settings as a tenant table of a configuration file (secrets left out)."""
    from webcrm_fortnox.service import tenant_commands

    _registry(ctx, config, lambda command: tenant_commands.show(command, name))


@tenants_app.command("pause")
def tenants_pause(
    ctx: typer.Context, name: NameArgument, reason: ReasonOption = None, config: ConfigOption = None
) -> None:
    """Stop syncing a registered tenant until resumed (a running service stops it too)."""
    from webcrm_fortnox.service import tenant_commands
    from webcrm_fortnox.store.registry import TenantState

    state = TenantState.PAUSED
    _registry(ctx, config, lambda command: tenant_commands.set_state(command, name, state, reason))


@tenants_app.command("resume")
def tenants_resume(ctx: typer.Context, name: NameArgument, config: ConfigOption = None) -> None:
    """Sync a paused or removed registered tenant again, from where it stopped."""
    from webcrm_fortnox.service import tenant_commands
    from webcrm_fortnox.store.registry import TenantState

    state = TenantState.ACTIVE
    _registry(ctx, config, lambda command: tenant_commands.set_state(command, name, state, None))


@tenants_app.command("remove")
def tenants_remove(
    ctx: typer.Context,
    name: NameArgument,
    reason: ReasonOption = None,
    purge: Annotated[
        bool,
        typer.Option(
            "--purge", help="Of a removed tenant: delete its links, cursors and history too."
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Stop syncing a registered tenant for good; its history stays (`resume` brings it back)
    until `remove --purge` deletes it."""
    from webcrm_fortnox.service import tenant_commands
    from webcrm_fortnox.store.registry import TenantState

    if purge:
        _registry(ctx, config, lambda command: tenant_commands.purge(command, name))
        return
    state = TenantState.REMOVED
    _registry(ctx, config, lambda command: tenant_commands.set_state(command, name, state, reason))


@app.command("copy-state")
def copy_state(
    target: Annotated[
        str,
        typer.Argument(
            help="The empty store to copy into, e.g. postgresql+psycopg://USER@HOST/DB.",
            metavar="URL",
        ),
    ],
    source: Annotated[
        str | None,
        typer.Option(
            "--from", help="The store to copy (default: the configuration's).", metavar="URL"
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Copy the whole state store (links, cursors, history, tokens, registered tenants) into an
    empty one: how SQLite + `run` moves to PostgreSQL. Stop `run` first."""
    from webcrm_fortnox.config import ConfigError, load_config
    from webcrm_fortnox.service.store_commands import check_source
    from webcrm_fortnox.service.store_commands import copy_state as copy
    from webcrm_fortnox.service.tenants import StateStoreError

    try:
        url = source if source is not None else load_config(config).state.url
        check_source(url)
        code = asyncio.run(copy(_console(), url, target))
    except (ConfigError, StateStoreError) as error:
        raise _fail(str(error)) from None
    raise typer.Exit(code)


# --- the administrator's page ----------------------------------------------------------------

admin_app = typer.Typer(
    help="The administrator's web page: every tenant's health, errors, conflicts and match "
    "review, with actions carried out by whatever runs the tenant. Operators are "
    "configured in the admin table of the configuration (see the README).",
    invoke_without_command=True,
)
app.add_typer(admin_app, name="admin")


@admin_app.callback()
def admin(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default: see the README).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8780,
    root_path: Annotated[
        str,
        typer.Option(help="The path it is served under behind a reverse proxy, e.g. /sync."),
    ] = "",
    config: ConfigOption = None,
) -> None:
    """Serve the administrator's page over the configured state store until stopped."""
    if ctx.invoked_subcommand is not None:
        return
    from webcrm_fortnox.config import ConfigError, config_path, load_config
    from webcrm_fortnox.service.tenants import StateStoreError
    from webcrm_fortnox.transport.listening import PortUnavailableError
    from webcrm_fortnox.web.serve import AdminSetupError, is_loopback, run_admin

    if config is None:
        config = ctx.meta.get(_CONFIG_BEFORE)
    path = config_path(config)
    try:
        loaded = load_config(config)
    except ConfigError as error:
        raise _fail(str(error)) from None

    def listening(url: str) -> None:
        typer.echo(f"Administrator's page on {url}{root_path}/ (Ctrl-C stops it)")
        if not is_loopback(host) and not loaded.admin.secure_cookies:
            typer.echo(
                "  warning: listening beyond this machine without admin.secure_cookies: put it "
                "behind an HTTPS reverse proxy (see the README)",
                err=True,
            )

    try:
        asyncio.run(run_admin(loaded, path, host, port, root_path=root_path, listening=listening))
    except StateStoreError as error:
        raise _fail(f"{path}: state.url: {error}") from None
    except AdminSetupError as error:
        raise _fail(f"{path}: {error}") from None
    except PortUnavailableError as error:
        raise _fail(f"{error}; choose another with --port") from None


@admin_app.command("hash-password")
def admin_hash_password(
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="The password (asked for, unseen, when not given).",
        ),
    ],
) -> None:
    """Print an Argon2 hash of a password: the password_hash of an operator in the admin
    table of the configuration."""
    from webcrm_fortnox.web.security import hash_password

    try:
        typer.echo(hash_password(password))
    except ValueError as error:
        raise _fail(str(error)) from None


@app.command()
def demo(
    folder: Annotated[
        Path | None,
        typer.Option(help="Where to write the configuration, state and emulator data."),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(help="Seconds the service runs while people edit (default 30)."),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Less data and a few seconds of editing.")
    ] = False,
    rate_limits: Annotated[
        bool,
        typer.Option("--rate-limits", help="Keep the vendors' rate limits (much slower)."),
    ] = False,
) -> None:
    """Try everything on the bundled emulators: seed a Nordic company on both sides, match,
    import, run the service while people edit, and print a summary."""
    import dataclasses
    import logging

    from webcrm_fortnox.service.demo import QUICK, DemoOptions, run_demo
    from webcrm_fortnox.service.logs import Redactor, setup_logging

    options = QUICK if quick else DemoOptions()
    changes: dict[str, Any] = {"folder": folder, "rate_limits": rate_limits}
    if duration is not None:
        changes["duration"] = duration
    options = dataclasses.replace(options, **changes)
    if options.folder is not None:
        options.folder.mkdir(parents=True, exist_ok=True)
    else:
        import tempfile

        options = dataclasses.replace(
            options, folder=Path(tempfile.mkdtemp(prefix="webcrm-fortnox-demo-"))
        )
    assert options.folder is not None
    # The service's JSON logs go to a file in the folder; the screen shows the story.
    log_file = (options.folder / "service.log").open("w", encoding="utf-8")
    root = logging.getLogger()
    level = root.level
    handler = setup_logging(Redactor(), level=logging.INFO, stream=log_file)
    try:
        code = asyncio.run(run_demo(_console(), options))
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        log_file.close()
    raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print the version (as --version does)."""
    _print_version(True)


def main() -> None:
    app()
