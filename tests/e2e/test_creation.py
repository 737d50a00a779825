"""Creation both ways, with every listed field mapped, and no echo writes afterwards."""

from __future__ import annotations

from tests.e2e.harness import Systems, tenant
from webcrm_fortnox.engine.apply import RecordStatus
from webcrm_fortnox.store import StateDatabase

# Every field of the specification's list, as a webCRM person enters it with the default
# field table (customer number, organisation number, visiting address, terms, currency, e-mail
# in the custom fields the demo system switched on).
ORGANISATION = {
    "OrganisationName": "Acme AB",
    "OrganisationAddress": "Storgatan 1\nBox 12",
    "OrganisationPostCode": "111 22",
    "OrganisationCity": "Stockholm",
    "OrganisationCountry": "Sverige",
    "OrganisationTelephone": "08-123 45",
    "OrganisationWww": "www.acme.se",
    "OrganisationFax": "08-123 00",
    "OrganisationVatNumber": "SE556036079301",
    "OrganisationExtraCustom2": "556036-0793",
    "OrganisationCustom1": "Kungsgatan 2",
    "OrganisationCustom2": "411 19",
    "OrganisationCustom3": "Göteborg",
    "OrganisationCustom4": "Danmark",
    "OrganisationCustom5": "02: 15",
    "OrganisationCustom6": "01: EUR",
    "OrganisationCustom7": "info@acme.se",
}

# The same customer as Fortnox holds it.
CUSTOMER = {
    "Name": "Acme AB",
    "Address1": "Storgatan 1",
    "Address2": "Box 12",
    "ZipCode": "111 22",
    "City": "Stockholm",
    "CountryCode": "SE",
    "Phone1": "08-123 45",
    "WWW": "www.acme.se",
    "Fax": "08-123 00",
    "Type": "COMPANY",
    "VATNumber": "SE556036079301",
    "OrganisationNumber": "556036-0793",
    "VisitingAddress": "Kungsgatan 2",
    "VisitingZipCode": "411 19",
    "VisitingCity": "Göteborg",
    "VisitingCountryCode": "DK",
    "TermsOfPayment": "15",
    "Currency": "EUR",
    "Email": "info@acme.se",
}


async def test_an_organisation_becomes_a_customer_with_every_field(
    env: Systems, db: StateDatabase
) -> None:
    organisation = await env.organisation(OrganisationType="Customer", **ORGANISATION)
    run = await env.sync(tenant(), db)
    assert run.exit_code == 0
    (customer,) = await env.customers()
    stored = await env.customer_data(customer["CustomerNumber"])
    assert {key: stored[key] for key in CUSTOMER} == CUSTOMER
    # Fortnox assigned the number; it is written back to webCRM's customer-number field.
    written_back = await env.organisation_data(organisation)
    assert written_back["OrganisationExtraCustom1"] == stored["CustomerNumber"]
    assert stored["ExternalReference"] == str(organisation)


async def test_a_customer_becomes_an_organisation_with_every_field(
    env: Systems, db: StateDatabase
) -> None:
    number = await env.customer(**CUSTOMER)
    run = await env.sync(tenant(), db)
    assert run.exit_code == 0
    (organisation,) = await env.organisations()
    expected = {**ORGANISATION, "OrganisationExtraCustom1": number}
    assert {key: organisation[key] for key in expected} == expected
    assert organisation["OrganisationType"] == "Customer"  # new_customer_type


async def test_private_customers_keep_their_kind_both_ways(env: Systems, db: StateDatabase) -> None:
    await env.organisation(OrganisationName="Anna Berg", OrganisationType="Private Customer")
    await env.customer(Name="Nils Holm", Type="PRIVATE")
    await env.customer(Name="Holm AB", Type="COMPANY")
    assert (await env.sync(tenant(), db)).exit_code == 0
    by_name = {c["Name"]: c for c in await env.customers()}
    assert (await env.customer_data(by_name["Anna Berg"]["CustomerNumber"]))["Type"] == "PRIVATE"
    types = {o["OrganisationName"]: o["OrganisationType"] for o in await env.organisations()}
    assert types == {
        "Anna Berg": "Private Customer",
        "Nils Holm": "Private Customer",
        "Holm AB": "Customer",
    }


async def test_a_second_sync_right_after_writes_nothing(env: Systems, db: StateDatabase) -> None:
    await env.organisation(**ORGANISATION)
    await env.customer(Name="Berg & Son AB", City="Uppsala", Type="COMPANY")
    first = await env.sync(tenant(), db)
    assert first.exit_code == 0
    await env.reset_stats()
    env.clock.advance(60)
    second = await env.sync(tenant(), db)
    assert second.exit_code == 0
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}
    assert all(o.status is not RecordStatus.FAILED for r in second.results for o in r.outcomes)


async def test_a_change_on_one_side_reaches_the_other_once(env: Systems, db: StateDatabase) -> None:
    organisation = await env.organisation(**ORGANISATION)
    await env.sync(tenant(), db)
    (customer,) = await env.customers()
    env.clock.advance(120)
    await env.edit_customer(customer["CustomerNumber"], Phone1="08-999 99", City="Solna")
    await env.reset_stats()
    assert (await env.sync(tenant(), db)).exit_code == 0
    data = await env.organisation_data(organisation)
    assert (data["OrganisationTelephone"], data["OrganisationCity"]) == ("08-999 99", "Solna")
    assert (await env.writes())["fortnox"] == 0
    await env.reset_stats()
    env.clock.advance(60)
    await env.sync(tenant(), db)
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}
