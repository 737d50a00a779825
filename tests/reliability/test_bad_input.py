"""A corpus of hostile and broken records on both sides, synced in one run with good ones.

Each bad record is either synced correctly or reported as a per-record error (or exclusion)
with a reason a person can act on; the run completes, every good record syncs, and the state
store stays sound (a second run and a retry run work, no record is linked twice).
"""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import Systems, tenant
from tests.reliability.checks import read_world
from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.errors import ApiError
from webcrm_fortnox.store import StateDatabase

LONG = "Lång " * 80
#: Organisations people could type into webCRM.
ORGANISATIONS: list[dict[str, Any]] = [
    {"OrganisationName": LONG},
    {"OrganisationName": ""},
    {"OrganisationName": "   "},
    {"OrganisationName": "Orgnr fel AB", "OrganisationExtraCustom2": "556000-0000"},
    {"OrganisationName": "Orgnr text AB", "OrganisationExtraCustom2": "abc"},
    {"OrganisationName": "Moms fel AB", "OrganisationVatNumber": "SE123"},
    {"OrganisationName": "Moms XX AB", "OrganisationVatNumber": "XX999999999999"},
    {"OrganisationName": "Valuta AB", "OrganisationCustom6": "XYZ"},
    {"OrganisationName": "Kronor AB", "OrganisationCustom6": "kronor"},
    {"OrganisationName": "Villkor AB", "OrganisationCustom5": "999 dagar"},
    {"OrganisationName": "Café ☕ 🚀 AB"},
    {"OrganisationName": "Bell\x07\x1b AB"},
    {"OrganisationName": "Rad\nbrytning AB"},
    {"OrganisationName": "<script>alert(1)</script>"},
    {"OrganisationName": "<b>Fet</b> AB"},
    {"OrganisationName": "Robert'); DROP TABLE customers;--"},
    {"OrganisationName": "Citat AB", "OrganisationExtraCustom1": "1' OR '1'='1"},
    {"OrganisationName": "Kommentar AB", "OrganisationExtraCustom1": "x' OR OrganisationId > 0 --"},
    {"OrganisationName": "Postnr AB", "OrganisationPostCode": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
    {"OrganisationName": "Telefon AB", "OrganisationTelephone": "ring mig kanske"},
    {"OrganisationName": "Epost AB", "OrganisationCustom7": "inte en adress"},
    {"OrganisationName": "Webb AB", "OrganisationWww": "javascript:alert(1)"},
    {"OrganisationName": "Narnia AB", "OrganisationCountry": "Narnia"},
    {"OrganisationName": "Typ mellanslag AB", "OrganisationType": " customer "},
    {"OrganisationName": "Typ versaler AB", "OrganisationType": "CUSTOMER"},
    {"OrganisationName": "Typ dubbel AB", "OrganisationType": "Private  Customer"},
    {"OrganisationName": "Dubblett 1 AB", "OrganisationExtraCustom1": "5000"},
    {"OrganisationName": "Dubblett 2 AB", "OrganisationExtraCustom1": "5000"},
    {"OrganisationName": "Negativ AB", "OrganisationExtraCustom1": "-1"},
    {"OrganisationName": "Enorm AB", "OrganisationExtraCustom1": "9" * 40},
    {"OrganisationName": "Adress AB", "OrganisationAddress": "Gatan " * 200},
    {"OrganisationName": "Stad AB", "OrganisationCity": "Umeå 🌲"},
    {"OrganisationName": "\u202eRTL AB"},
    {"OrganisationName": "Noll\u200bbredd AB"},
    {"OrganisationName": "Typ osynlig AB", "OrganisationType": "Customer\u200b"},
    {"OrganisationName": "Postnr mellanslag AB", "OrganisationPostCode": "123 45"},
    {"OrganisationName": "Orgnr lång AB", "OrganisationExtraCustom2": "1" * 31},
    {"OrganisationName": "API_BLANK"},
    {"OrganisationName": "Procent 100% AB", "OrganisationTelephone": "\t\n"},
    {"OrganisationName": "Moms tom AB", "OrganisationVatNumber": "   "},
]
#: Customers people could type into Fortnox (those Fortnox refuses never exist there).
CUSTOMERS: list[dict[str, Any]] = [
    {"Name": "Kund 🚀 AB"},
    {"Name": "<i>Kursiv</i> Kund"},
    {"Name": "O'Brien & Co"},
    {"Name": "'; SELECT * FROM Organisation --"},
    {"Name": "Kund x' OR '1'='1"},
    {"Name": "Postnr Kund", "ZipCode": "!!!"},
    {"Name": "Orgnr Kund", "OrganisationNumber": "000000-0000"},
    {"Name": "Moms Kund", "VATNumber": "SE000"},
    {"Name": "   Luft Kund   "},
    {"Name": "Telefon Kund", "Phone1": "+46 (0)8-123 45 67 ankn. 9"},
    {"Name": LONG[:200]},
    {"Name": "Valuta Kund", "Currency": "ZZZ"},
    {"Name": "Villkor Kund", "TermsOfPayment": "999"},
    {"Name": "Villkor gemener Kund", "TermsOfPayment": "ag", "Currency": "eur"},
    {"Name": "Postnr mellanslag AB", "ZipCode": "12345"},
    {"Name": "Procent 100% & Co ©"},
    {"Name": "L" * 1024},
    {"Name": "Webb Kund", "WWW": "javascript:alert(1)"},
    {"Name": "Privat Kund", "Type": "private"},
    {"Name": "Land Kund", "CountryCode": "NO", "OrganisationNumber": "999 999 999"},
]
GOOD = ["Acme AB", "Berg AB", "Cedra AB"]


async def test_hostile_records_never_crash_block_or_corrupt(
    env: Systems, db: StateDatabase
) -> None:
    created: dict[str, int] = {"webcrm": 0, "fortnox": 0}
    for values in ORGANISATIONS:
        try:
            await env.organisation(**values)
            created["webcrm"] += 1
        except ApiError:
            pass  # webCRM itself refused it: it never exists
    for values in CUSTOMERS:
        response = await env.fortnox_api.post(
            "/3/customers", json={"Customer": values}, headers=await env._fortnox_auth()
        )
        created["fortnox"] += response.status_code == 201
    for name in GOOD:
        await env.organisation(OrganisationName=name)
        await env.customer(Name=f"{name} kund")
    assert sum(created.values()) >= 40, created

    config = tenant()
    run = await env.sync(config, db)

    assert not run.stopped, run.reason
    for result in run.results:
        for outcome in result.needing_attention:
            assert outcome.detail and len(outcome.detail) > 15, outcome
    state = db.tenant(config.name)
    for error in await state.open_errors():
        assert error.reason.strip(), error
    async with env.connector.clients(config) as clients:
        world = await read_world(config, clients, state)
    # Every good record synced, whatever happened to the bad ones around it.
    for name in GOOD:
        for variant in (name, f"{name} kund"):
            assert variant in world.by_name("webcrm") and variant in world.by_name("fortnox")
    # Each bad record is linked, excluded, or has an error that says why.
    reported = {(e.system, e.record_id) for e in await state.open_errors()}
    # Codes Fortnox does not have are refused by Fortnox, for that organisation alone.
    refused = {
        world.organisations[e.record_id].fields["name"]: e
        for e in await state.open_errors()
        if e.system == "webcrm" and e.record_id in world.organisations
    }
    assert refused["Villkor AB"].vendor_code == "2000429"
    assert "terms of payment do not exist" in refused["Villkor AB"].reason
    for name in ("Valuta AB", "Kronor AB"):
        assert (refused[name].field, refused[name].vendor_code) == ("Currency", "2001392")
    linked = {("webcrm", w) for w, _ in world.links} | {("fortnox", f) for _, f in world.links}
    for system, records in (("webcrm", world.organisations), ("fortnox", world.customers)):
        for record in records.values():
            key = (system, record.id)
            assert key in linked or key in reported or not record.eligible, record
    assert len({w for w, _ in world.links}) == len(world.links)
    assert len({f for _, f in world.links}) == len(world.links)
    pairs = {
        (world.organisations[w].fields["name"], world.customers[f].fields["name"])
        for w, f in world.links
    }
    # A Type typed with odd case, spacing or an invisible character is still a customer Type.
    for name in ("Typ mellanslag AB", "Typ versaler AB", "Typ dubbel AB", "Typ osynlig AB"):
        assert (name, name) in pairs, name
    assert world.by_name("fortnox")["Typ dubbel AB"].fields["customer_type"] == "private"
    # Invisible characters are dropped, not refused: the name people see is what syncs.
    for name in ("Bell AB", "RTL AB", "Nollbredd AB"):
        assert (name, name) in pairs, name
    # "123 45" and "12345" are one postcode: the two records were paired, not duplicated.
    assert ("Postnr mellanslag AB", "Postnr mellanslag AB") in pairs
    for records in (world.organisations, world.customers):
        named = [r for r in records.values() if r.fields["name"] == "Postnr mellanslag AB"]
        assert len(named) == 1, named

    # The state store is sound: more runs work and do not pile up duplicates.
    env.clock.advance(61)
    assert not (await env.sync(config, db, mode=Mode.RETRY)).stopped
    env.clock.advance(61)
    again = await env.sync(config, db)
    assert not again.stopped
    async with env.connector.clients(config) as clients:
        after = await read_world(config, clients, state)
    assert len(after.customers) == len(world.customers)
    assert len(after.organisations) == len(world.organisations)
