"""``run``'s triggers: Fortnox's change feed, webCRM's poll and hooks, and the feed's resume."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.service.live import Live, eventually, quick, running
from webcrm_fortnox.engine.adapters import Announced
from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.service.daemon import SyncService
from webcrm_fortnox.service.http_server import free_port
from webcrm_fortnox.service.job import feed_announced
from webcrm_fortnox.store import StateDatabase


def syncs(service: SyncService) -> dict[str, float]:
    """How many syncs each trigger started, as ``/metrics`` counts them."""
    counted: dict[str, float] = {}
    for metric in service.metrics.syncs.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                trigger = sample.labels["trigger"]
                counted[trigger] = counted.get(trigger, 0) + sample.value
    return counted


def syncs_by(service: SyncService, trigger: str) -> float:
    return syncs(service).get(trigger, 0.0)


@asynccontextmanager
async def started(service: SyncService) -> AsyncIterator[None]:
    """``service`` running, from the moment its first sync, the change feed and the feed's
    catch-up sync are done; stopped when the block ends."""
    worker = next(iter(service.workers.values()))

    async def ready() -> bool:
        # connections counts once the catch-up sync after subscribing was asked for
        feeds = all(feed.live and feed.connections >= 1 for feed in service.feeds)
        return worker.syncs >= 1 and feeds and worker.idle

    async with running(service):
        await eventually(ready, "the first sync, the change feed and its catch-up")
        yield


async def test_a_fortnox_edit_reaches_webcrm_without_waiting_for_the_cycle(
    env: Live, db: StateDatabase
) -> None:
    # Cycle and webCRM poll an hour away: only the change feed can explain a quick sync.
    config = env.tenant(webcrm_poll_seconds=3600)
    service = SyncService([config], db, env.connector(), quick())
    async with started(service):
        number = await env.systems.customer(Name="Kund från Fortnox AB")

        async def arrived() -> bool:
            names = [o["OrganisationName"] for o in await env.systems.organisations()]
            return "Kund från Fortnox AB" in names

        await eventually(arrived, "the new Fortnox customer in webCRM")
        await env.systems.edit_customer(number, Phone1="08-123 45 67")

        async def edited() -> bool:
            return any(
                o.get("OrganisationTelephone") == "08-123 45 67"
                for o in await env.systems.organisations()
            )

        await eventually(edited, "the Fortnox edit in webCRM")
    # Apart from the first cycle, only the change feed started syncs.
    assert syncs_by(service, "cycle") == 1
    assert syncs_by(service, "fortnox customers") >= 1
    assert set(syncs(service)) <= {"cycle", "fortnox customers", "fortnox feed connected"}


async def test_a_webcrm_edit_reaches_fortnox_within_the_poll_interval(
    env: Live, db: StateDatabase
) -> None:
    service = SyncService([env.tenant()], db, env.connector(), quick())
    async with started(service):
        await env.systems.organisation(OrganisationName="Kund från webCRM AB")

        async def arrived() -> bool:
            return any(c["Name"] == "Kund från webCRM AB" for c in await env.systems.customers())

        await eventually(arrived, "the new organisation in Fortnox")
    assert syncs_by(service, "webcrm poll") >= 1, syncs(service)
    assert syncs_by(service, "cycle") == 1
    assert "fortnox poll" not in syncs(service)  # the feed was live: Fortnox was not polled


async def test_a_webcrm_hook_wakes_the_tenant(env: Live, db: StateDatabase) -> None:
    port = free_port()
    options = quick(feed=False, metrics_port=port, callback_url=f"http://127.0.0.1:{port}")
    # Polling once an hour: only the hook can explain a quick sync.
    service = SyncService([env.tenant(webcrm_poll_seconds=3600)], db, env.connector(), options)
    async with running(service):
        worker = next(iter(service.workers.values()))
        await eventually(lambda: _true(worker.syncs >= 1), "the first sync")
        await eventually(lambda: _true(bool(service._hook_secrets)), "the hooks registered")
        await env.systems.organisation(OrganisationName="Kund via hook AB")

        async def arrived() -> bool:
            return any(c["Name"] == "Kund via hook AB" for c in await env.systems.customers())

        await eventually(arrived, "the organisation in Fortnox")
    assert syncs_by(service, "webcrm hook") >= 1


async def test_the_feed_resumes_from_its_stored_offset_after_a_restart(
    env: Live, db: StateDatabase, tmp_path: Path
) -> None:
    config = env.tenant(webcrm_poll_seconds=3600)
    first = SyncService([config], db, env.connector(), quick())
    async with started(first):
        number = await env.systems.customer(Name="Första AB")
        await eventually(lambda: _handled(first, 1), "the first event handled")
        # Its offset is stored once the feed reads on past it.
        await eventually(lambda: _offset_stored(first), "the first event's offset stored")
    # While nobody listens, Fortnox announces two more changes.
    await env.systems.edit_customer(number, Phone1="031-11 22 33")
    await env.systems.customer(Name="Andra AB")

    second = SyncService([config], db, env.connector(), quick(feed=True))
    async with started(second):
        # The stored offset replays what happened while down (and, at most, the last one again).
        await eventually(lambda: _handled(second, 2), "the missed events replayed")

        async def caught_up() -> bool:
            organisations = await env.systems.organisations()
            names = {o["OrganisationName"] for o in organisations}
            phones = {o.get("OrganisationTelephone") for o in organisations}
            return "Andra AB" in names and "031-11 22 33" in phones

        await eventually(caught_up, "the missed changes in webCRM")
    assert second.feeds[0].events_handled <= 3


async def _offset_stored(service: SyncService) -> bool:
    return "customers" in await service.feeds[0].offsets.load()


async def _handled(service: SyncService, count: int) -> bool:
    return sum(feed.events_handled for feed in service.feeds) >= count


async def _true(value: bool) -> bool:
    return value


async def test_a_line_edited_alone_in_webcrm_reaches_fortnox_within_the_poll_interval(
    env: Live, db: StateDatabase
) -> None:
    # No hooks, cycle an hour away: only the poll of changed lines can explain the edit's sync.
    service = SyncService([env.tenant()], db, env.connector(), quick())
    webcrm, fortnox = env.systems.webcrm, env.systems.fortnox
    async with started(service):
        organisation = await env.systems.organisation(OrganisationName="Linjekund AB")
        delivery = await webcrm.create_delivery(
            {"DeliveryOrganisationId": organisation, "DeliveryDescription": "Order"}
        )
        line = await webcrm.create_quotation_line(
            {"QuotationLineOpportunityId": delivery, "QuotationLineMemo": "Konsulttimme",
             "QuotationLineQuantity": 1, "QuotationLinePrice": 10,
             "QuotationLineVatPercentage": 25}
        )  # fmt: skip

        async def quantities() -> list[float]:
            async for order in fortnox.orders.iterate():
                if str(order.external_invoice_reference1) == str(delivery):
                    full = await fortnox.orders.get(str(order.document_number))
                    return [float(row.ordered_quantity or 0) for row in full.order_rows or []]
            return []

        async def ordered(count: float) -> bool:
            return await quantities() == [count]

        await eventually(lambda: ordered(1), "the delivery as a Fortnox order")
        env.systems.clock.advance(600)  # well past the overlap of the delivery's last read
        await webcrm.update_quotation_line(line, {"QuotationLineQuantity": 5})
        await eventually(lambda: ordered(5), "the line's new quantity on the order")
    assert syncs_by(service, "cycle") == 1
    assert "webcrm poll" in syncs(service)


async def _fortnox_reads(env: Live) -> dict[str, int]:
    """Fortnox GET requests per route since the stats were reset."""
    rows = (await env.systems.fortnox_api.get("/_emulator/stats")).json()["requests"]
    counts: dict[str, int] = {}
    for row in rows:
        if row["method"] == "GET" and not row["route"].startswith("/_emulator"):
            counts[row["route"]] = counts.get(row["route"], 0) + row["count"]
    return counts


async def test_while_the_feed_is_live_a_fortnox_edit_is_read_alone(
    env: Live, db: StateDatabase
) -> None:
    config = env.tenant(webcrm_poll_seconds=3600)
    service = SyncService([config], db, env.connector(), quick())
    async with started(service):
        numbers = [await env.systems.customer(Name=f"Kund {n} AB") for n in range(3)]

        async def arrived() -> bool:
            names = {o["OrganisationName"] for o in await env.systems.organisations()}
            return {f"Kund {n} AB" for n in range(3)} <= names

        await eventually(arrived, "the three Fortnox customers in webCRM")
        await eventually(lambda: _true(next(iter(service.workers.values())).idle), "quiet")
        await env.systems.reset_stats()
        await env.systems.edit_customer(numbers[1], Phone1="08-765 43 21")

        async def edited() -> bool:
            return any(
                o.get("OrganisationTelephone") == "08-765 43 21"
                for o in await env.systems.organisations()
            )

        await eventually(edited, "the Fortnox edit in webCRM")
        reads = await _fortnox_reads(env)
    # The feed vouched for every change since the last listing: nothing is listed, one customer
    # is read (none of the others, though they changed within the listing's overlap), and the
    # article registers and documents, of which nothing was announced, are left alone.
    assert set(reads) == {"/3/customers/{key}"}, reads
    assert 1 <= reads["/3/customers/{key}"] <= 2, reads


async def test_a_sync_lists_fortnox_changes_again_after_the_feed_reconnects(
    env: Live, db: StateDatabase
) -> None:
    config = env.tenant(webcrm_poll_seconds=3600)
    service = SyncService([config], db, env.connector(), quick())
    async with started(service):
        worker = next(iter(service.workers.values()))
        await worker.feed.announce(worker.name, "customers", "1")

        async def announced(mode: Mode, trigger: str) -> Announced | None:
            return (await feed_announced(worker.feed, worker.name, mode, trigger))[0]

        assert await announced(Mode.INCREMENTAL, "webcrm hook") == Announced(
            customers=frozenset({"1"})
        )
        assert await announced(Mode.INCREMENTAL, "cycle") is None
        assert await announced(Mode.FULL, "webcrm hook") is None
        # A gap in the feed: what changed meanwhile was never announced.
        await worker.feed.left(worker.name)
        assert await announced(Mode.INCREMENTAL, "webcrm hook") is None
        await worker.feed.joined(worker.name, config.fortnox.client_id)
        assert await announced(Mode.INCREMENTAL, "webcrm hook") is None
        await worker.sync(Mode.INCREMENTAL, "fortnox feed connected")  # lists, and so covers
        assert await announced(Mode.INCREMENTAL, "webcrm hook") == Announced()


async def test_the_poll_wakes_the_tenant_once_per_webcrm_change(
    env: Live, db: StateDatabase
) -> None:
    service = SyncService([env.tenant()], db, env.connector(), quick())
    worker = next(iter(service.workers.values()))
    try:
        # No sync yet, so no cursor: every poll lists the newest rows, the same each time.
        await env.systems.organisation(OrganisationName="Ett byte AB")

        async def wake_ups() -> int:
            await worker._poll()
            return worker._triggers.count("webcrm poll")

        assert await wake_ups() == 1
        assert await wake_ups() == 1  # nothing new: no second wake-up
        await env.systems.organisation(OrganisationName="Två byten AB")
        assert await wake_ups() == 2
    finally:
        await worker.close()
