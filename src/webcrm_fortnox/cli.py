"""The ``webcrm-fortnox`` command line.

The sync commands (``plan``, ``sync --once``, ``match``, ``retry``, ``errors``, ``conflicts``)
load the configuration, then hand over to :mod:`webcrm_fortnox.service.commands`. Tests can pass
a :class:`CliContext` as Click's ``obj`` to reach in-process emulators and to answer ``match``'s
questions.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer

from webcrm_fortnox import __version__

if TYPE_CHECKING:
    from webcrm_fortnox.service.commands import Command
    from webcrm_fortnox.service.connections import Connector

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
    from webcrm_fortnox.emulation import serve
    from webcrm_fortnox.fortnox.emulator import create_app

    fortnox = create_app(
        data=data,
        client_id=client_id,
        client_secret=client_secret,
        tenant_id=tenant_id,
        seed=_check_seed(seed),
        rate_limit=not no_rate_limit,
    )
    typer.echo(f"Fortnox emulator on http://{host}:{port} (client id {client_id!r})")
    serve(fortnox, host, port)


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
    from webcrm_fortnox.emulation import serve
    from webcrm_fortnox.webcrm.emulator import create_app

    webcrm = create_app(
        data=data, api_token=api_token, seed=_check_seed(seed), rate_limit=not no_rate_limit
    )
    typer.echo(f"webCRM emulator on http://{host}:{port}")
    serve(webcrm, host, port)


# --- the sync commands -----------------------------------------------------------------------


def _default_connector() -> Connector:
    from webcrm_fortnox.service.connections import Connector

    return Connector()


@dataclass
class CliContext:
    """What a sync command runs with; tests pass their own as Click's ``obj``.

    Attributes:
        connector: builds each tenant's clients (tests: to in-process emulators).
        interactive: whether ``match`` may ask questions (``None``: when stdin is a terminal).
    """

    connector: Connector = field(default_factory=_default_connector)
    interactive: bool | None = None


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


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


def _run(
    ctx: typer.Context,
    config_file: Path | None,
    tenant: str | None,
    action: Callable[[Command], Coroutine[Any, Any, int]],
) -> None:
    """Load the configuration, run ``action`` on the chosen tenants, exit with its status."""
    from rich.console import Console

    from webcrm_fortnox.config import ConfigError, load_config
    from webcrm_fortnox.service.commands import Command, NoSuchError
    from webcrm_fortnox.service.tenants import StateStoreError, UnknownTenantError, select_tenants

    context = ctx.obj if isinstance(ctx.obj, CliContext) else CliContext()
    try:
        config = load_config(config_file)
        tenants = select_tenants(config, tenant)
    except (ConfigError, UnknownTenantError) as error:
        raise _fail(str(error)) from None
    if not tenants:
        raise _fail("the configuration has no [[tenant]]: add one (see the README)")
    command = Command(config, tenants, context.connector, Console())
    try:
        code = asyncio.run(action(command))
    except (StateStoreError, NoSuchError) as error:
        raise _fail(str(error)) from None
    raise typer.Exit(code)


@app.command()
def plan(
    ctx: typer.Context,
    config: ConfigOption = None,
    tenant: TenantOption = None,
    full: FullOption = False,
) -> None:
    """Print the actions a sync would take (create, update with a field-by-field diff, link,
    conflict, skip with reason); write nothing anywhere."""
    from webcrm_fortnox.service import commands

    _run(ctx, config, tenant, lambda command: commands.plan(command, full=full))


@app.command()
def sync(
    ctx: typer.Context,
    config: ConfigOption = None,
    tenant: TenantOption = None,
    once: Annotated[bool, typer.Option("--once", help="Run one sync, then exit.")] = False,
    full: FullOption = False,
) -> None:
    """Sync customers both ways once (--once) and print a summary.

    Exit status: 0 every record synced or was excluded by configuration; 3 some records failed
    or need a decision (see `errors`); 1 the run could not complete."""
    from webcrm_fortnox.service import commands

    if not once:
        # The continuous service is a later addition; nothing here pretends to be it.
        typer.echo(
            "give --once: this version syncs once and exits; the long-running service is not "
            "part of it yet",
            err=True,
        )
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
) -> None:
    """Pair records that already exist on both sides; show pairs, one-sided records and
    ambiguous candidates; record the decisions the next sync applies."""
    from webcrm_fortnox.service import commands

    context = ctx.obj if isinstance(ctx.obj, CliContext) else CliContext()
    interactive = sys.stdin.isatty() if context.interactive is None else context.interactive
    ask = _ask_on_terminal if interactive else None
    _run(ctx, config, tenant, lambda command: commands.match(command, accept_all=yes, ask=ask))


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
) -> None:
    """List failing records: record, field, vendor code and message, and the reason in plain
    English. Exit status 3 when there is any."""
    from webcrm_fortnox.service import commands

    _run(ctx, config, tenant, commands.errors)


@app.command()
def conflicts(
    ctx: typer.Context,
    config: ConfigOption = None,
    tenant: TenantOption = None,
    open_only: Annotated[
        bool, typer.Option("--open", help="Only conflicts waiting for a person.")
    ] = False,
) -> None:
    """List fields both sides changed, with both values and how each was settled."""
    from webcrm_fortnox.service import commands

    _run(ctx, config, tenant, lambda command: commands.conflicts(command, open_only=open_only))


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
