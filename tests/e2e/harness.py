"""Both emulators in-process behind a :class:`Connector`, and state stores on both backends.

The sync runs exactly as the product runs it (the connector builds each tenant's clients from
its configuration) except that HTTP goes through ``httpx.ASGITransport`` to the emulators and
every wait advances the emulators' shared clock instead of sleeping.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from tests.domain.tenants import make_tenant
from tests.store.backends import POSTGRES_ENV
from webcrm_fortnox.config import Config, TenantConfig, write_config
from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.fortnox.client import FortnoxClient
from webcrm_fortnox.fortnox.emulator import create_app as fortnox_app
from webcrm_fortnox.service import Connector, SyncOptions, TenantRun, sync_tenant
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.database import async_url
from webcrm_fortnox.webcrm.client import WebcrmClient
from webcrm_fortnox.webcrm.emulator import create_app as webcrm_app
from webcrm_fortnox.webcrm.emulator.state import DEFAULT_API_TOKEN

FORTNOX_URL = "http://fortnox.test"
WEBCRM_URL = "http://webcrm.test"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Logging in is not a change to either system's data.
AUTH_ROUTES = frozenset({"/oauth-v1/token", "/Auth/ApiLogin", "/Auth/ApiRefresh"})


def tenant(**overrides: Any) -> TenantConfig:
    """A tenant of both emulators' default company with the default field table."""
    return make_tenant(**{"webcrm": {"api_token": DEFAULT_API_TOKEN}, **overrides})


async def writes_in(api: httpx.AsyncClient) -> int:
    """Requests that changed data on one emulator since its stats were last reset."""
    rows = (await api.get("/_emulator/stats")).json()["requests"]
    return sum(
        row["count"]
        for row in rows
        if row["method"] in WRITE_METHODS
        and row["route"] not in AUTH_ROUTES
        and not row["route"].startswith("/_emulator")
    )


@dataclass
class Systems:
    """Both emulators, the product's connector to them, and clients for arranging data."""

    clock: EmulatorClock
    connector: Connector
    fortnox_api: httpx.AsyncClient
    webcrm_api: httpx.AsyncClient
    fortnox: FortnoxClient
    webcrm: WebcrmClient

    async def writes(self) -> dict[str, int]:
        """Data-changing requests per system since :meth:`reset_stats`."""
        return {
            "fortnox": await writes_in(self.fortnox_api),
            "webcrm": await writes_in(self.webcrm_api),
        }

    async def reset_stats(self) -> None:
        await self.fortnox_api.delete("/_emulator/stats")
        await self.webcrm_api.delete("/_emulator/stats")

    async def sync(self, config: TenantConfig, db: StateDatabase, **options: Any) -> TenantRun:
        """One run of ``config``'s tenant, through the product's connector and runner."""
        async with self.connector.clients(config) as clients:
            return await sync_tenant(
                config,
                db.tenant(config.name),
                clients.webcrm,
                clients.fortnox,
                SyncOptions(now=clients.now, **options),
            )

    async def organisation(self, **values: Any) -> int:
        """Create a webCRM organisation (Type Customer unless given) as a person would."""
        body = {"OrganisationName": "Org", "OrganisationType": "Customer", **values}
        return await self.webcrm.create_organisation(body)

    async def organisation_data(self, organisation_id: int | str) -> dict[str, Any]:
        response = await self.webcrm_api.get(
            f"/Organisations/{organisation_id}", headers=await self._webcrm_auth()
        )
        return response.json()  # type: ignore[no-any-return]

    async def organisations(self) -> list[dict[str, Any]]:
        response = await self.webcrm_api.get(
            "/Organisations", params={"Size": 1000}, headers=await self._webcrm_auth()
        )
        return response.json()  # type: ignore[no-any-return]

    async def customer(self, **values: Any) -> str:
        """Create a Fortnox customer as a person would; returns its number."""
        response = await self.fortnox_api.post(
            "/3/customers", json={"Customer": values}, headers=await self._fortnox_auth()
        )
        assert response.status_code == 201, response.text
        return str(response.json()["Customer"]["CustomerNumber"])

    async def customer_data(self, number: str) -> dict[str, Any]:
        response = await self.fortnox_api.get(
            f"/3/customers/{number}", headers=await self._fortnox_auth()
        )
        return response.json()["Customer"]  # type: ignore[no-any-return]

    async def edit_customer(self, number: str, **values: Any) -> None:
        response = await self.fortnox_api.put(
            f"/3/customers/{number}",
            json={"Customer": values},
            headers=await self._fortnox_auth(),
        )
        assert response.status_code == 200, response.text

    async def customers(self) -> list[dict[str, Any]]:
        response = await self.fortnox_api.get(
            "/3/customers", params={"limit": 500}, headers=await self._fortnox_auth()
        )
        return response.json()["Customers"]  # type: ignore[no-any-return]

    async def customers_in_full(self) -> list[dict[str, Any]]:
        return [await self.customer_data(c["CustomerNumber"]) for c in await self.customers()]

    async def edit_organisation(self, organisation_id: int | str, **values: Any) -> None:
        response = await self.webcrm_api.put(
            f"/Organisations/{organisation_id}",
            json=values,
            headers=await self._webcrm_auth(),
        )
        assert response.status_code < 300, response.text

    async def _fortnox_auth(self) -> dict[str, str]:
        return dict(await self.fortnox.transport.auth.headers())

    async def _webcrm_auth(self) -> dict[str, str]:
        return dict(await self.webcrm.auth.headers())


@asynccontextmanager
async def systems(
    *, fortnox_seed: str = "empty", webcrm_seed: str = "empty", fortnox_rate_limit: bool = False
) -> AsyncIterator[Systems]:
    """Fresh emulators of both systems on one controllable clock, without rate limits unless
    ``fortnox_rate_limit`` (Fortnox's 25 requests per sliding 5 s, enforced with 429s)."""
    clock = EmulatorClock()

    async def sleep(seconds: float) -> None:
        clock.advance(max(seconds, 0.0))
        await asyncio.sleep(0)

    transports = {
        "fortnox": httpx.ASGITransport(
            fortnox_app(seed=fortnox_seed, rate_limit=fortnox_rate_limit, clock=clock)
        ),
        "webcrm": httpx.ASGITransport(webcrm_app(seed=webcrm_seed, rate_limit=False, clock=clock)),
    }
    connector = Connector(clock=clock, sleep=sleep, transports=transports)
    async with AsyncExitStack() as stack:
        fortnox_api = await stack.enter_async_context(
            httpx.AsyncClient(transport=transports["fortnox"], base_url=FORTNOX_URL)
        )
        webcrm_api = await stack.enter_async_context(
            httpx.AsyncClient(transport=transports["webcrm"], base_url=WEBCRM_URL)
        )
        clients = await stack.enter_async_context(connector.clients(tenant()))
        yield Systems(clock, connector, fortnox_api, webcrm_api, clients.fortnox, clients.webcrm)


# --- state stores on both backends -------------------------------------------------------------


def postgres_url_or_skip() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"set {POSTGRES_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    return url


@contextmanager
def state_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A state-store URL of its own: a SQLite file, or a fresh PostgreSQL schema dropped after.

    The schema goes into the URL (``options=-csearch_path=…``), so a configuration file can name
    it and a separate process uses it too.
    """
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    url = postgres_url_or_skip()
    schema = f"e2e_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(async_url(url))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def write_tenant_config(path: Path, url: str, *tenants: TenantConfig) -> Path:
    """A configuration file with ``[state] url`` and the tenants, as a user would write it."""
    config = Config.model_validate(
        {"state": {"url": url}, "tenant": [t.model_dump() for t in tenants]}
    )
    return write_config(path, config)
