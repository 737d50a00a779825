"""Emulator: the demo data is a realistic, repeatable Nordic sales company."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import httpx
from stdnum.se import orgnr, vat

from webcrm_fortnox.emulation import EmulatorClock, EmulatorKit
from webcrm_fortnox.webcrm.emulator import WebcrmEmulator
from webcrm_fortnox.webcrm.emulator.seed import SeedOptions


async def test_demo_organisations_look_like_nordic_companies(
    webcrm_demo_api: httpx.AsyncClient, webcrm_clock: EmulatorClock
) -> None:
    orgs = (await webcrm_demo_api.get("/Organisations", params={"Size": 1000})).json()
    assert len(orgs) == 25
    countries = Counter(o["OrganisationCountry"] for o in orgs)
    assert countries.most_common(1)[0][0] == "Sverige"
    swedish = [o for o in orgs if o["OrganisationExtraCustom2"]]
    assert swedish
    for org in swedish:
        assert orgnr.is_valid(org["OrganisationExtraCustom2"])
        assert vat.is_valid(org["OrganisationVatNumber"])
    assert "Customer" in {o["OrganisationType"] for o in orgs}
    created = [datetime.fromisoformat(o["OrganisationCreatedAt"]) for o in orgs]
    updated = [datetime.fromisoformat(o["OrganisationUpdatedAt"]) for o in orgs]
    # a history spread over the past year, never in the future
    assert all(c <= u <= webcrm_clock.now() for c, u in zip(created, updated, strict=True))
    assert max(created) - min(created) > timedelta(days=30)


async def test_demo_deliveries_have_lines_from_the_product_register(
    webcrm_demo_api: httpx.AsyncClient,
) -> None:
    items = (await webcrm_demo_api.get("/QuotationLines/LinkedData")).json()
    numbers = {i["QuotationLineLinkedDataItemData1"] for i in items}
    deliveries = (await webcrm_demo_api.get("/Deliveries", params={"Size": 100})).json()
    assert len(deliveries) == 15
    for delivery in deliveries:
        lines = (
            await webcrm_demo_api.get(f"/Deliveries/{delivery['DeliveryId']}/QuotationLines")
        ).json()
        assert lines
        assert {line["QuotationLineData1"] for line in lines} <= numbers
        total = sum(
            x["QuotationLinePrice"]
            * x["QuotationLineQuantity"]
            * (1 - x["QuotationLineDiscount"] / 100)
            for x in lines
        )
        assert round(total, 2) == delivery["DeliveryOrderValue"]


def test_the_same_options_give_the_same_data() -> None:
    def names(options: SeedOptions) -> list[str]:
        emulator = WebcrmEmulator(EmulatorKit(rate_limit=None), seed="empty")
        emulator.seed(None, "demo", options.model_dump())
        system = emulator.system(None)
        return [
            r["OrganisationName"]
            for r in system.of("Organisation").records(system.of("Organisation").ids)
        ]

    assert names(SeedOptions(organisations=5)) == names(SeedOptions(organisations=5))
    assert names(SeedOptions(organisations=5)) != names(SeedOptions(organisations=5, random_seed=2))


def test_benchmark_sizes_can_be_asked_for() -> None:
    emulator = WebcrmEmulator(EmulatorKit(rate_limit=None), seed="empty")
    counts = emulator.seed(
        None, "demo", {"organisations": 300, "deliveries": 60, "persons_per_organisation": 0}
    )["counts"]
    assert (counts["Organisation"], counts["Delivery"], counts["Person"]) == (300, 60, 0)
