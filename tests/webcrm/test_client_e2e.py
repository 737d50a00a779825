"""The client against ``webcrm-fortnox emulate webcrm`` running as a real process over loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.support.servers import cli_server

from webcrm_fortnox.webcrm.client import WebcrmClient
from webcrm_fortnox.webcrm.models import Delivery, Organisation, Person, QuotationLine

TOKEN = "7d0f5a52-3c1e-4b8e-9a55-2f6a1b1c0e42"
UNIQUE = "OrganisationExtraCustom8"


@pytest.mark.e2e
async def test_client_against_the_emulator_process() -> None:
    with cli_server("emulate", "webcrm", "--seed", "empty", "--api-token", TOKEN) as url:
        async with WebcrmClient(TOKEN, base_url=url) as client:
            start = (await client.get_organisation(await _create(client, "C-1"))).created_at
            assert start is not None
            # the real POST /Organisations answer (an object by default) is understood
            org_id = await _create(client, "C-2")
            await client.update_organisation(org_id, Organisation(city="Lund"))
            org = await client.get_organisation(org_id)
            assert (org.name, org.city, org.extra_custom(8)) == ("Acme C-2", "Lund", "C-2")
            assert [o.id for o in await client.find_organisations(UNIQUE, "c-2")] == [org_id]

            (await client.http.post(f"{url}/_emulator/tokens/expire")).raise_for_status()
            await client.create_person(Person(organisation_id=org_id, last_name="Berg"))
            assert client.auth.logins == 2
            assert [p.last_name async for p in client.persons_of_organisation(org_id)] == ["Berg"]

            delivery_id = await client.create_delivery(
                Delivery(organisation_id=org_id, status="New", number="1001")
            )
            await client.create_quotation_line(
                QuotationLine(opportunity_id=delivery_id, organisation_id=org_id, quantity=2)
            )
            lines = [line async for line in client.quotation_lines_of_delivery(delivery_id)]
            assert [line.quantity for line in lines] == [2.0]

            changed = client.changed_since("Organisation", start, overlap=timedelta(minutes=1))
            assert [o.extra_custom(8) async for o in changed] == ["C-1", "C-2"]


async def _create(client: WebcrmClient, number: str) -> int:
    return await client.create_organisation(
        Organisation(name=f"Acme {number}", OrganisationExtraCustom8=number), unique_field=UNIQUE
    )
