"""The ``webcrm-fortnox`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from webcrm_fortnox import __version__

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


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
