"""The change feed of many tenants of one integration: every tenant in the one subscription.

While the feed carries a tenant, nothing need be asked of Fortnox for it between its cycles; a
tenant the subscription leaves out polls Fortnox at each webCRM poll instead. The count of
Fortnox requests over a few polls is what keeps "ten idle tenants cost Fortnox less than one
request per tenant-minute" (the figure itself is ``python -m bench --only idle-tenants``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.service.live import Live, eventually, quick, running
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.fortnox.models import Customer
from webcrm_fortnox.service.daemon import SyncService
from webcrm_fortnox.service.feed import FeedListener
from webcrm_fortnox.service.worker import TenantWorker
from webcrm_fortnox.store import StateDatabase

#: webCRM polls per tenant in the window over which Fortnox's requests are counted.
POLLS = 3


async def company(env: Live, number: int) -> TenantConfig:
    """A tenant of the integration's company ``number`` and a webCRM system of its own (the
    emulators' defaults are company 1 and the default token)."""
    token = f"00000000-0000-4000-8000-{number:012d}"
    if number > 1:
        await env.systems.fortnox_api.post(
            "/_emulator/tenants", json={"tenant_id": number, "seed": "empty"}
        )
        await env.systems.webcrm_api.post(
            "/_emulator/tenants", json={"api_token": token, "seed": "empty"}
        )
        return env.tenant(name=f"company-{number}", webcrm={"api_token": token},
                          fortnox={"tenant_id": number})  # fmt: skip
    return env.tenant(name="company-1")


async def stats(env: Live, system: str) -> list[dict[str, Any]]:
    api = env.systems.fortnox_api if system == "fortnox" else env.systems.webcrm_api
    response = await api.get("/_emulator/stats")
    return list(response.json()["requests"])


async def requests(env: Live, system: str, route: str | None = None) -> int:
    return sum(r["count"] for r in await stats(env, system) if route in (None, r["route"]))


async def reset(env: Live) -> None:
    await env.systems.fortnox_api.delete("/_emulator/stats")
    await env.systems.webcrm_api.delete("/_emulator/stats")


def covered(feed: FeedListener, workers: list[TenantWorker]) -> bool:
    return feed.live and all(w.feed_live and w in feed.members for w in workers)


async def settled(service: SyncService, workers: list[TenantWorker]) -> None:
    """Every tenant has synced while the feed carried it (its first cycle, or the catch-up once
    the feed carries it: tenants with no stored schedule have their first cycles spread over the
    interval), the feed vouches for each, and no sync runs."""

    async def ready() -> bool:
        feed = service.feeds[0]
        if not (feed.live and all(w.syncs >= 1 and w.idle for w in workers)):
            return False
        return all([(await w.feed.snapshot(w.name)).vouched for w in workers])

    await eventually(ready, "every tenant synced and vouched for by the live feed")


async def test_every_tenant_of_an_integration_is_in_the_one_subscription(
    env: Live, db: StateDatabase
) -> None:
    tenants = [await company(env, n) for n in (1, 2, 3)]
    service = SyncService(tenants, db, env.connector(), quick())
    workers = list(service.workers.values())
    async with running(service):
        await settled(service, workers)
        # Each tenant's first cycle waited for the feed to subscribe it, so listing once made
        # the feed vouch for it: the catch-up that followed read only announcements.
        assert await requests(env, "fortnox", "/3/customers") == len(workers)
        await reset(env)
        syncs = [w.syncs for w in workers]

        async def polled() -> bool:
            return await requests(env, "webcrm", "/Queries") >= POLLS * 3 * len(workers)

        await eventually(polled, f"{POLLS} webCRM polls of each tenant")
        # Idle between cycles: the feed vouches for every tenant, so none asks Fortnox.
        assert await requests(env, "fortnox") == 0, await stats(env, "fortnox")
        assert [w.syncs for w in workers] == syncs  # nothing to sync between cycles
        feed = service.feeds[0]
        assert covered(feed, workers)
        assert feed.connections == 1  # tenants joined the live connection: no reconnect


async def test_a_tenant_added_later_joins_the_live_subscription_and_leaves_it(
    env: Live, db: StateDatabase
) -> None:
    first = await company(env, 1)
    later = await company(env, 2)
    service = SyncService([first], db, env.connector(), quick())
    async with running(service):
        await settled(service, list(service.workers.values()))
        feed = service.feeds[0]
        assert covered(feed, list(service.workers.values()))
        service.jobs.add(later)
        worker = TenantWorker(later, service.jobs)
        feed.add(worker)
        stop_later = asyncio.Event()
        task = asyncio.create_task(worker.run(stop_later))
        try:
            await eventually(lambda: _true(covered(feed, [worker])), "the later tenant covered")
            await eventually(lambda: _true(worker.syncs >= 1 and worker.idle), "its catch-up")
            assert feed.connections == 1
            # Its company's changes now wake it.
            assert worker.clients is not None
            await worker.clients.fortnox.customers.create(Customer(name="Senare AB"))
            await eventually(
                lambda: _true(announced_syncs(service, later.name) >= 1),
                "a sync the feed asked for",
            )

            feed.remove(worker)
            await eventually(lambda: _true(worker not in feed.members), "the tenant removed")
            assert not worker.feed_live
            assert feed.live and feed.connections == 1
            assert all(w.feed_live for w in service.workers.values())
        finally:
            stop_later.set()
            await task


def announced_syncs(service: SyncService, tenant: str, trigger: str = "fortnox customers") -> float:
    """Syncs of ``tenant`` started by ``trigger`` (an announced Fortnox customer)."""
    return sum(
        sample.value
        for metric in service.metrics.syncs.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
        and sample.labels["tenant"] == tenant
        and sample.labels["trigger"] == trigger
    )


async def _true(value: bool) -> bool:
    return value


async def test_a_feed_that_resubscribes_from_stored_offsets_keeps_vouching(
    env: Live, db: StateDatabase
) -> None:
    config = env.tenant(webcrm_poll_seconds=3600)
    first = SyncService([config], db, env.connector(), quick())
    async with running(first):
        worker = next(iter(first.workers.values()))
        await settled(first, [worker])
        feed = first.feeds[0]
        await every_topic_has_an_offset(env, feed)
        before = await worker.feed.snapshot(worker.name)
        assert before.vouched
        catch_ups = announced_syncs(first, worker.name, "fortnox feed connected")

        # The connection drops; the stream resubscribes from the stored offsets.
        assert feed.stream is not None and feed.stream._socket is not None
        await feed.stream._socket.close()
        await eventually(lambda: _true(feed.connections == 2 and feed.live), "resubscribed")
        await eventually(lambda: _true(worker.idle), "quiet")
        after = await worker.feed.snapshot(worker.name)
        # The replay brings whatever happened meanwhile: the tenant keeps its epoch, the feed
        # vouches for it at once, and no listing is needed to catch up.
        assert (after.epoch, after.vouched) == (before.epoch, True)
        assert announced_syncs(first, worker.name, "fortnox feed connected") == catch_ups
    assert not (await worker.feed.snapshot(worker.name)).vouched  # nothing follows the feed now

    # A restarted service resumes the same way.
    await env.systems.customer(Name="Under omstarten AB")
    second = SyncService([config], db, env.connector(), quick())
    async with running(second):
        worker = next(iter(second.workers.values()))

        async def caught_up() -> bool:
            names = {o["OrganisationName"] for o in await env.systems.organisations()}
            return second.feeds[0].live and worker.idle and "Under omstarten AB" in names

        await eventually(caught_up, "the feed resumed and the change made meanwhile synced")
        resumed = await worker.feed.snapshot(worker.name)
        assert (resumed.epoch, resumed.vouched) == (before.epoch, True)


async def every_topic_has_an_offset(env: Live, feed: FeedListener) -> None:
    """Stored offsets for every topic (a feed that has run a while has them): a customer's
    event gives one for customers, the others are set where their replay starts."""
    await env.systems.customer(Name="Före avbrottet AB")
    await eventually(lambda: _offsets(feed, {"customers"}), "the customer event's offset stored")
    for topic in ("articles", "orders", "invoices"):
        await feed.offsets.save(topic, "1")


async def _offsets(feed: FeedListener, topics: set[str]) -> bool:
    return topics <= set(await feed.offsets.load())
