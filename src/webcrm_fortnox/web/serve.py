"""Serving the administrator's page: ``webcrm-fortnox admin``, and inside ``demo``."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from webcrm_fortnox.config.models import AdminSettings, Config
from webcrm_fortnox.service.http_server import serving
from webcrm_fortnox.service.tenants import open_state
from webcrm_fortnox.store.state import StateDatabase
from webcrm_fortnox.web.app import create_app
from webcrm_fortnox.web.data import SiteData

#: The name the demo's one-time password signs in with.
DEMO_OPERATOR = "demo"


class AdminSetupError(Exception):
    """The page cannot start as configured; ``str()`` names the key and what to do."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@asynccontextmanager
async def admin_site(
    db: StateDatabase,
    settings: AdminSettings,
    *,
    configured: list[str],
    host: str = "127.0.0.1",
    port: int = 0,
    one_time: tuple[str, str] | None = None,
    config_file: Path | None = None,
    root_path: str = "",
) -> AsyncIterator[str]:
    """Serve the page over ``db`` on ``host:port`` (0: a free port); yields its address.

    Raises:
        AdminSetupError: nobody could sign in.
        PortUnavailableError: the port could not be bound.
    """
    app = create_app(
        SiteData(db, configured),
        settings,
        one_time=one_time,
        config_file=config_file,
        root_path=root_path,
    )
    if not app.state.site.operators.configured:
        raise AdminSetupError(
            "admin: no operator can sign in: add [[admin.user]] tables (name, password_hash "
            'from `webcrm-fortnox admin hash-password`) or admin.token = "env:NAME"'
        )
    async with serving(app, host, port) as url:
        yield url


def one_time_password() -> tuple[str, str]:
    """A name and a fresh password for the demo's page, valid while the demo runs."""
    return DEMO_OPERATOR, secrets.token_urlsafe(12)


async def run_admin(
    config: Config,
    config_file: Path,
    host: str,
    port: int,
    *,
    root_path: str = "",
    listening: Callable[[str], None],
) -> None:
    """Serve the page over the configuration's state store until SIGTERM or Ctrl-C."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with (
        open_state(config.state.url) as db,
        admin_site(
            db,
            config.admin,
            configured=[tenant.name for tenant in config.tenant],
            host=host,
            port=port,
            config_file=config_file,
            root_path=root_path,
        ) as url,
    ):
        listening(url)
        await stop.wait()
