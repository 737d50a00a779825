"""Faults that are about the network, over real HTTP to both emulators running as processes.

Connections dropped before the request is processed and after (the answer lost mid-body, as
uvicorn aborts the socket), and timeouts: the emulator holds a write longer than the client
waits, then carries it out anyway. Same promises as the in-process matrix. And the Fortnox
change feed over a real WebSocket whose connection is cut and whose events repeat.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.harness import Systems, tenant
from tests.reliability.scenario import Scenario
from tests.reliability.taps import DROPPED, Tap
from tests.support.servers import cli_server
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.fortnox.auth import OAuthClient, ServiceAccountAuth
from webcrm_fortnox.fortnox.client import FortnoxClient
from webcrm_fortnox.fortnox.events import EventStream, MemoryOffsetStore
from webcrm_fortnox.fortnox.models import Customer
from webcrm_fortnox.fortnox.urls import FortnoxUrls
from webcrm_fortnox.service import Connector, connections
from webcrm_fortnox.store import StateDatabase

pytestmark = pytest.mark.e2e


async def _short_sleep(seconds: float) -> None:
    # Backoff as the product computes it, without waiting it out in real time.
    await asyncio.sleep(min(seconds, 0.02))


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str]]:
    no_limit = ("--seed", "empty", "--no-rate-limit")
    with (
        cli_server("emulate", "fortnox", *no_limit) as fortnox,
        cli_server("emulate", "webcrm", *no_limit) as webcrm,
    ):
        yield fortnox, webcrm


@pytest.fixture
async def real(servers: tuple[str, str]) -> AsyncIterator[tuple[Systems, TenantConfig]]:
    """A fresh company and system on the running emulators, reached over loopback."""
    fortnox_url, webcrm_url = servers
    number = int.from_bytes(os.urandom(3), "big") + 10
    token = f"00000000-0000-4000-8000-{number:012d}"
    async with AsyncExitStack() as stack:
        fortnox_api = await stack.enter_async_context(
            httpx.AsyncClient(base_url=fortnox_url, timeout=30)
        )
        webcrm_api = await stack.enter_async_context(
            httpx.AsyncClient(base_url=webcrm_url, timeout=30)
        )
        await fortnox_api.post("/_emulator/tenants", json={"tenant_id": number, "seed": "empty"})
        await webcrm_api.post("/_emulator/tenants", json={"api_token": token, "seed": "empty"})
        config = tenant(
            name=f"t{number}",
            webcrm={"base_url": webcrm_url, "api_token": token},
            fortnox={"base_url": fortnox_url, "auth_url": fortnox_url, "tenant_id": number},
        )
        network = {"fortnox": httpx.AsyncHTTPTransport(), "webcrm": httpx.AsyncHTTPTransport()}
        connector = Connector(transports=network, sleep=_short_sleep)
        # Fortnox's real 25-per-5-s limit would only make these tests slow.
        connector.fortnox_limiters.limit = 1_000_000
        clients = await stack.enter_async_context(Connector().clients(config))
        env = Systems(
            EmulatorClock(), connector, fortnox_api, webcrm_api, clients.fortnox, clients.webcrm
        )
        yield env, config
        for transport in network.values():
            await transport.aclose()
        for api in (fortnox_api, webcrm_api):
            await api.put("/_emulator/faults", json={})


@pytest.fixture
async def db(tmp_path: Any) -> AsyncIterator[StateDatabase]:
    database = await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        yield database
    finally:
        await database.close()


async def put_faults(env: Systems, **settings: Any) -> None:
    for api in (env.fortnox_api, env.webcrm_api):
        response = await api.put("/_emulator/faults", json=settings)
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("fault", ["drop_rate", "drop_after_rate"])
async def test_connections_dropped_over_real_sockets(
    real: tuple[Systems, TenantConfig], db: StateDatabase, fault: str
) -> None:
    env, config = real

    async def toggle(on: bool) -> None:
        await put_faults(env, **({fault: 0.2, "seed": 5} if on else {}))

    scenario = Scenario(env, db, toggle, config=config)
    await scenario.play()
    assert scenario.endings()[DROPPED] > 0
    await scenario.recover_and_check()


async def test_writes_that_time_out_but_are_carried_out(
    real: tuple[Systems, TenantConfig], db: StateDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every third write is held by the emulator past the client's timeout, then done."""
    env, config = real
    monkeypatch.setattr(connections, "HTTP_TIMEOUT", 1.0)
    active = False
    writes = 0

    async def slow_writes(tap: Tap, number: int, request: httpx.Request) -> None:
        nonlocal writes
        if not active or request.url.path.startswith(("/oauth", "/Auth")):
            return
        if request.method in ("POST", "PUT"):
            writes += 1
        held = request.method in ("POST", "PUT") and writes % 3 == 0
        await tap.control("PUT", "/_emulator/faults", {"latency_ms": 2500 if held else 0})

    async def toggle(on: bool) -> None:
        nonlocal active
        active = on
        if not on:
            await put_faults(env)

    scenario = Scenario(env, db, toggle, before=slow_writes, config=config)
    await scenario.play()
    assert scenario.endings()[DROPPED] > 0  # the timeouts
    # A held write is still being carried out after the client gave up on it. The next cycle
    # comes later than that in life; recovering before it lands would race the vendor, and the
    # late write would show up in the quiet cycle's statistics.
    await asyncio.sleep(3.0)
    await scenario.recover_and_check()


class _Flaky:
    """A WebSocket whose TCP connection is cut after ``frames`` frames were received."""

    def __init__(self, socket: Any, frames: int) -> None:
        self.socket = socket
        self.left = frames

    async def send(self, text: str) -> None:
        await self.socket.send(text)

    async def recv(self) -> Any:
        return await self.socket.recv()

    async def __aiter__(self) -> AsyncIterator[Any]:
        async for frame in self.socket:
            yield frame
            self.left -= 1
            if self.left <= 0:
                self.socket.transport.abort()  # the network fails, no closing handshake
                # What had not reached the consumer yet is lost with the connection.
                async for _lost in self.socket:
                    pass
                return


async def test_change_feed_dropping_and_repeating_events(servers: tuple[str, str]) -> None:
    """The feed's TCP connection is cut every few events and half the events come twice:
    every change still arrives, and none is handed to the consumer twice."""
    fortnox_url, _ = servers
    number = int.from_bytes(os.urandom(3), "big") + 10
    async with httpx.AsyncClient(base_url=fortnox_url) as api:
        await api.post("/_emulator/tenants", json={"tenant_id": number, "seed": "empty"})
        await api.put("/_emulator/faults", json={"duplicate_events_rate": 0.5, "seed": 2})
        try:
            await _feed_under_faults(fortnox_url, number)
        finally:
            await api.put("/_emulator/faults", json={})


async def _feed_under_faults(fortnox_url: str, company: int) -> None:
    urls = FortnoxUrls.single_host(fortnox_url)
    oauth = OAuthClient("emulator", "emulator-secret", urls=urls)
    auth = ServiceAccountAuth(oauth, company)
    offsets = MemoryOffsetStore()

    @asynccontextmanager
    async def flaky_connect(url: str) -> AsyncIterator[_Flaky]:
        async with websockets.connect(url) as socket:
            yield _Flaky(socket, frames=3)

    feed = EventStream(
        urls.websocket,
        client_secret="emulator-secret",
        tenants=[auth],
        topics=["customers"],
        offsets=offsets,
        connect=flaky_connect,
        sleep=_short_sleep,
        max_reconnects=20,
    )
    events = feed.events()
    first = asyncio.ensure_future(anext(events))
    await asyncio.wait_for(feed.live.wait(), 15)
    async with FortnoxClient(auth, urls=urls) as fortnox:
        numbers = [
            str((await fortnox.customers.create(Customer(name=f"Kund {i} AB"))).customer_number)
            for i in range(12)
        ]
    handled = [await asyncio.wait_for(first, 15)]
    async with asyncio.timeout(30):
        while {e.entity_id for e in handled if e.type == "customer-created-v1"} != set(numbers):
            handled.append(await anext(events))
    await events.aclose()
    await oauth.aclose()

    assert feed.connections > 3  # it was cut, and resumed each time
    assert feed.duplicates_dropped > 0  # the feed did repeat events
    offsets_handled = [(e.topic, e.offset) for e in handled]
    assert len(offsets_handled) == len(set(offsets_handled)), "an event was handed over twice"
