"""One tenant synced between the two emulator processes, as the product syncs it.

The product's own :class:`~webcrm_fortnox.service.Connector` builds the clients, kept open from
cycle to cycle as the running service keeps them, and :func:`~webcrm_fortnox.service.sync_tenant`
runs each cycle; the state lives in a SQLite file.
People's edits go through a second connector, so they are requests of their own on the emulators
(their statistics are reset before each measured cycle).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.emulators import Calls, EmulatorControl, emulator_process
from webcrm_fortnox.config import TenantConfig, parse_config
from webcrm_fortnox.fortnox.models import Customer
from webcrm_fortnox.service import Connector, SyncOptions, TenantRun, sync_tenant
from webcrm_fortnox.service.connections import TenantClients
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.transport.limiters import LimiterRegistry
from webcrm_fortnox.webcrm.emulator.state import DEFAULT_API_TOKEN

FORTNOX_TENANT = "1"
#: A limit no benchmark reaches: the client-side limiters when the emulators enforce none.
UNLIMITED = (1_000_000, 1.0)


class ShiftedTime:
    """The machine's clock plus an offset, moved in step with the emulators' clocks."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def timestamp(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


def bench_tenant(fortnox_url: str, webcrm_url: str, **overrides: Any) -> TenantConfig:
    """The tenant both emulators' default company make, with ``overrides`` laid over it."""
    data: dict[str, Any] = {
        "name": "bench",
        "customer_types": ["Customer", "Private Customer"],
        "private_customer_types": ["Private Customer"],
        "new_customer_type": "Customer",
        "allow_insecure_http": True,
        "webcrm": {"base_url": webcrm_url, "api_token": DEFAULT_API_TOKEN},
        "fortnox": {
            "base_url": fortnox_url,
            "auth_url": fortnox_url,
            "ws_url": fortnox_url.replace("http://", "ws://") + "/topics-v1",
            "client_id": "emulator",
            "client_secret": "emulator-secret",
            "tenant_id": int(FORTNOX_TENANT),
        },
        **overrides,
    }
    return parse_config({"tenant": [data]}, Path("bench.toml"), environ={}).tenant[0]


@dataclass
class Pair:
    """Both emulators, the tenant, its state, and the connectors of the sync and of people."""

    fortnox: EmulatorControl
    webcrm: EmulatorControl
    tenant: TenantConfig
    db: StateDatabase
    time: ShiftedTime
    clients: TenantClients
    people: Connector

    async def sync(self) -> TenantRun:
        """One cycle of the tenant, as the running service runs it: with the clients it keeps
        open between cycles (so a cycle signs in only when a token expires)."""
        clients = self.clients
        return await sync_tenant(
            self.tenant, self.db.tenant(self.tenant.name), clients.webcrm, clients.fortnox,
            SyncOptions(trigger="cycle", now=clients.now),
        )  # fmt: skip

    async def advance(self, seconds: float) -> None:
        """Move every clock (both emulators' and the sync's) forward."""
        await self.fortnox.advance(seconds)
        await self.webcrm.advance(seconds)
        self.time.offset += seconds

    async def reset_stats(self) -> None:
        await self.fortnox.reset_stats()
        await self.webcrm.reset_stats()

    async def calls(self) -> dict[str, Calls]:
        """Requests per system since the last reset."""
        return {"fortnox": await self.fortnox.calls(), "webcrm": await self.webcrm.calls()}

    async def edit_customers(self, numbers: list[str], phone: str) -> None:
        """People change the phone number of these Fortnox customers."""
        async with self.people.clients(self.tenant) as clients:
            for number in numbers:
                await clients.fortnox.customers.update(number, Customer(phone1=phone))

    async def edit_organisations(self, ids: list[str], phone: str) -> None:
        """People change the phone number of these webCRM organisations."""
        async with self.people.clients(self.tenant) as clients:
            for organisation_id in ids:
                await clients.webcrm.update_organisation(
                    int(organisation_id), {"OrganisationTelephone": phone}
                )

    async def customer_phone(self, number: str) -> str:
        async with self.people.clients(self.tenant) as clients:
            return (await clients.fortnox.customers.get(number)).phone1 or ""

    async def organisation_phone(self, organisation_id: str) -> str:
        async with self.people.clients(self.tenant) as clients:
            organisation = await clients.webcrm.get_organisation(int(organisation_id))
            return organisation.telephone or ""

    async def linked_ids(self) -> list[tuple[str, str]]:
        """(webCRM id, Fortnox number) of every linked customer."""
        links = await self.db.tenant(self.tenant.name).links("customer")
        return [(link.webcrm_id, link.fortnox_id) for link in links]


@asynccontextmanager
async def pair(workdir: Path, *, rate_limit: bool, **tenant_overrides: Any) -> AsyncIterator[Pair]:
    """Both emulators as processes, empty, and a fresh state store in ``workdir``."""
    with (
        emulator_process("fortnox", rate_limit=rate_limit, log=workdir / "fortnox.log") as f_url,
        emulator_process("webcrm", rate_limit=rate_limit, log=workdir / "webcrm.log") as w_url,
    ):
        async with AsyncExitStack() as stack:
            fortnox, webcrm = EmulatorControl(f_url), EmulatorControl(w_url)
            stack.push_async_callback(fortnox.close)
            stack.push_async_callback(webcrm.close)
            state = workdir / f"state-{time.monotonic_ns()}.db"
            clock = ShiftedTime()
            # The state's clock is the sync's, so a link's time compares with the emulators'.
            db = await StateDatabase.open(f"sqlite:///{state}", clock=clock.now)
            stack.push_async_callback(db.close)
            connectors = [Connector(clock=clock, sleep=asyncio.sleep) for _ in range(2)]
            if not rate_limit:
                # Measuring calls, not waits: the clients need not keep under limits either.
                for connector in connectors:
                    connector.fortnox_limiters = unlimited(clock)
                    connector.webcrm_limiters = unlimited(clock)
            tenant = bench_tenant(f_url, w_url, **tenant_overrides)
            clients = await stack.enter_async_context(connectors[0].clients(tenant))
            yield Pair(
                fortnox=fortnox,
                webcrm=webcrm,
                tenant=tenant,
                db=db,
                time=clock,
                clients=clients,
                people=connectors[1],
            )


def unlimited(clock: ShiftedTime) -> LimiterRegistry:
    """Client-side limiters no benchmark reaches, for emulators that enforce no limit."""
    return LimiterRegistry(*UNLIMITED, monotonic=clock.monotonic, sleep=asyncio.sleep)
