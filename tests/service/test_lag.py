"""The propagation lag ``run`` measures: from a change's own announcement, on the clients' clock."""

from __future__ import annotations

import pytest

from tests.service.live import Live, eventually, quick, running
from webcrm_fortnox.fortnox.models import Customer
from webcrm_fortnox.service.daemon import SyncService
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.queries import ReadModel

HOUR = 3600.0


def lag(service: SyncService, direction: str) -> tuple[float, float]:
    """(observations, sum of seconds) of the lag histogram in ``direction``."""
    values = {"_count": 0.0, "_sum": 0.0}
    for metric in service.metrics.lag.collect():
        for sample in metric.samples:
            if sample.labels.get("direction") == direction:
                for suffix in values:
                    if sample.name.endswith(suffix):
                        values[suffix] += sample.value
    return values["_count"], values["_sum"]


async def test_a_fortnox_edit_is_timed_from_its_own_announcement_not_an_earlier_one(
    env: Live, db: StateDatabase
) -> None:
    # The emulators, the clients and the service share one clock, an hour ahead of the machine.
    env.systems.clock.advance(HOUR)
    tenant = env.tenant()
    service = SyncService([tenant], db, env.connector(), quick())
    worker = service.workers[tenant.name]
    feed = service.feeds[0]
    async with running(service):

        async def subscribed() -> bool:
            return worker.syncs >= 1 and feed.live and worker.idle

        await eventually(subscribed, "the first sync and the change feed")
        # A new organisation becomes a Fortnox customer.
        await env.systems.webcrm.create_organisation(
            {"OrganisationName": "Ekot AB", "OrganisationType": "Customer"}
        )

        async def created() -> bool:
            names = [c["Name"] for c in await env.systems.customers()]
            return "Ekot AB" in names and worker.idle

        await eventually(created, "the customer in Fortnox")
        number = next(
            c["CustomerNumber"] for c in await env.systems.customers() if c["Name"] == "Ekot AB"
        )
        # Someone writes a comment on the customer in Fortnox, a field that does not sync: the
        # change is announced, and the sync it triggers has nothing to write.
        announced = feed.events_handled
        await env.systems.fortnox.customers.update(number, Customer(comments="Ring före 10"))

        async def handled() -> bool:
            return feed.events_handled > announced and worker.idle

        await eventually(handled, "the announcement and the sync it triggered")
        assert lag(service, "fortnox->webcrm") == (0.0, 0.0)

        # An hour later someone changes the customer in Fortnox.
        env.systems.clock.advance(HOUR)
        await env.systems.fortnox.customers.update(number, Customer(phone1="08-123 45 67"))

        async def arrived() -> bool:
            organisations = await env.systems.organisations()
            return any(o["OrganisationTelephone"] == "08-123 45 67" for o in organisations)

        await eventually(arrived, "the Fortnox edit in webCRM")

    count, seconds = lag(service, "fortnox->webcrm")
    assert count == 1
    # Seconds after its own announcement, not the hour since the comment's.
    assert 0.0 < seconds < 600.0
    # Each measurement is kept in the store too, for the read model's percentiles.
    samples = await ReadModel(db).lag_samples(tenant.name)
    assert [s.seconds for s in samples if s.direction == "fortnox->webcrm"] == [
        pytest.approx(seconds, abs=0.001)
    ]
    assert len(samples) == sum(lag(service, d)[0] for d in ("fortnox->webcrm", "webcrm->fortnox"))
