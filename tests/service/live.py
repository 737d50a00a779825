"""Both emulators served over real loopback HTTP and WebSocket, inside the test's event loop.

The service follows Fortnox's change feed over a real WebSocket, so these tests serve the
emulators with uvicorn (as tasks of the test's loop) rather than through an ASGI transport.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.domain.tenants import make_tenant
from tests.e2e.harness import Systems
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.fortnox.emulator import create_app as fortnox_app
from webcrm_fortnox.service import Connector
from webcrm_fortnox.service.daemon import ServiceOptions, SyncService
from webcrm_fortnox.service.http_server import serving
from webcrm_fortnox.service.job import WorkerSettings
from webcrm_fortnox.service.vault import KeySource
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.webcrm.emulator import create_app as webcrm_app
from webcrm_fortnox.webcrm.emulator.state import DEFAULT_API_TOKEN

#: Generous: only reached when something is broken (no test measures time).
PATIENCE = 20.0


@dataclass
class Live:
    """Both emulators on loopback, a tenant configured for them, and helpers to arrange data."""

    systems: Systems
    fortnox_url: str
    webcrm_url: str
    key_file: Path
    apps: dict[str, Any]

    def tenant(self, **overrides: Any) -> TenantConfig:
        """A tenant of the emulators' default companies that polls webCRM every second and
        waits an hour between cycles (so only triggers can explain a quick sync)."""
        ws = self.fortnox_url.replace("http://", "ws://") + "/topics-v1"
        fortnox = {
            "base_url": self.fortnox_url,
            "auth_url": self.fortnox_url,
            "ws_url": ws,
            **overrides.pop("fortnox", {}),
        }
        webcrm = {"api_token": DEFAULT_API_TOKEN, "base_url": self.webcrm_url}
        return make_tenant(
            webcrm={**webcrm, **overrides.pop("webcrm", {})},
            fortnox=fortnox,
            webcrm_poll_seconds=overrides.pop("webcrm_poll_seconds", 1),
            sync_interval_seconds=overrides.pop("sync_interval_seconds", 3600),
            **overrides,
        )

    def connector(self) -> Connector:
        return Connector(clock=self.systems.clock, keys=KeySource(path=self.key_file))


@asynccontextmanager
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    """Fresh, empty emulators without rate limits on loopback ports."""
    clock = EmulatorClock()
    async with AsyncExitStack() as stack:
        apps = {
            "fortnox": fortnox_app(seed="empty", rate_limit=False, clock=clock),
            "webcrm": webcrm_app(seed="empty", rate_limit=False, clock=clock),
        }
        fortnox_url = await stack.enter_async_context(serving(apps["fortnox"], date_header=False))
        webcrm_url = await stack.enter_async_context(serving(apps["webcrm"], date_header=False))
        connector = Connector(clock=clock)
        fortnox_api = await stack.enter_async_context(httpx.AsyncClient(base_url=fortnox_url))
        webcrm_api = await stack.enter_async_context(httpx.AsyncClient(base_url=webcrm_url))
        arranging = Live(
            Systems(clock, connector, fortnox_api, webcrm_api, None, None),  # type: ignore[arg-type]
            fortnox_url,
            webcrm_url,
            tmp_path / "token.key",
            apps,
        )
        clients = await stack.enter_async_context(connector.clients(arranging.tenant()))
        arranging.systems.fortnox = clients.fortnox
        arranging.systems.webcrm = clients.webcrm
        yield arranging


def quick(**overrides: Any) -> ServiceOptions:
    """Service options for tests: no metrics port unless asked, short debounce and backoff."""
    worker = WorkerSettings(debounce=0.05, first_backoff=0.2, pause_check=0.1)
    return ServiceOptions(**{"worker": worker, "metrics_port": None, **overrides})


@asynccontextmanager
async def running(service: SyncService) -> AsyncIterator[asyncio.Task[int]]:
    """The service running as a task; stopped (and its exit awaited) when the block ends."""
    task = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(service.started.wait(), PATIENCE)
        yield task
    finally:
        service.stop()
        await asyncio.wait_for(task, PATIENCE)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait until ``check`` holds (polling), failing with ``what`` after :data:`PATIENCE`."""
    deadline = time.monotonic() + PATIENCE
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.02)


async def open_db(tmp_path: Path) -> StateDatabase:
    return await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}")
