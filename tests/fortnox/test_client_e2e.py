"""End to end: the client against ``webcrm-fortnox emulate fortnox`` running as a real process.

Real HTTP over loopback, real OAuth, the real 25-per-5-s limit and the WebSocket change feed
(which the ``websockets`` library can only reach over a real socket).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.support.servers import cli_server

from webcrm_fortnox.fortnox.auth import OAuthClient, ServiceAccountAuth
from webcrm_fortnox.fortnox.client import FortnoxClient
from webcrm_fortnox.fortnox.events import ChangeEvent, EventStream, MemoryOffsetStore
from webcrm_fortnox.fortnox.models import Customer
from webcrm_fortnox.fortnox.urls import FortnoxUrls

pytestmark = pytest.mark.e2e

CLIENT_ID, CLIENT_SECRET, TENANT = "crm-sync", "e2e-secret", 4711


async def next_created(events: AsyncIterator[ChangeEvent], entity_id: str) -> list[ChangeEvent]:
    """Events up to the creation of ``entity_id`` (earlier ones may be replays)."""
    seen: list[ChangeEvent] = []
    async with asyncio.timeout(15):
        async for event in events:
            seen.append(event)
            if event.type == "customer-created-v1" and event.entity_id == entity_id:
                return seen
    raise AssertionError("the stream ended")


async def test_client_against_the_real_emulator_process() -> None:
    args = ["emulate", "fortnox", "--seed", "empty", "--client-id", CLIENT_ID,
            "--client-secret", CLIENT_SECRET, "--tenant-id", str(TENANT)]  # fmt: skip
    with cli_server(*args) as url:
        urls = FortnoxUrls.single_host(url)
        oauth = OAuthClient(CLIENT_ID, CLIENT_SECRET, urls=urls)
        auth = ServiceAccountAuth(oauth, TENANT)
        async with FortnoxClient(auth, urls=urls) as fortnox:
            assert (await fortnox.company_information()).database_number == TENANT

            offsets = MemoryOffsetStore()
            feed = EventStream(
                urls.websocket,
                client_secret=CLIENT_SECRET,
                tenants=[auth],
                topics=["customers"],
                offsets=offsets,
                max_reconnects=2,
            )
            events = feed.events()
            # The feed only delivers what happens after subscribing: subscribe first.
            subscribed = asyncio.ensure_future(anext(events))
            await asyncio.wait_for(feed.live.wait(), 15)
            first = await fortnox.customers.create(Customer(name="Första AB"))
            assert first.customer_number
            event = await asyncio.wait_for(subscribed, 15)
            assert (event.type, event.entity_id, event.tenant_id) == (
                "customer-created-v1", first.customer_number, TENANT,
            )  # fmt: skip
            await events.aclose()
            assert offsets.offsets == {}  # the consumer never confirmed the event

            # Handled now; after a restart the stream resumes from the stored offset.
            await offsets.save(event.topic, event.offset)
            second = await fortnox.customers.create(Customer(name="Andra AB"))
            assert second.customer_number
            resumed = EventStream(
                urls.websocket, client_secret=CLIENT_SECRET, tenants=[auth],
                topics=["customers"], offsets=offsets, max_reconnects=2,
            )  # fmt: skip
            replayed = await next_created(resumed.events(), second.customer_number)
            assert {e.entity_id for e in replayed} <= {
                first.customer_number,
                second.customer_number,
            }

            fetched = await fortnox.customers.get(second.customer_number)
            assert fetched.name == "Andra AB"
            names = [c.name async for c in fortnox.customers.iterate()]
            assert names == ["Första AB", "Andra AB"]
            assert fortnox.stats["rate_limited"] == 0
        await oauth.aclose()
