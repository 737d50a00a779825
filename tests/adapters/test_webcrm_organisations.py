"""webCRM organisations as a record source, against the webCRM emulator."""

from __future__ import annotations

from typing import Any

import pytest

from tests.adapters.emulators import Emulators
from tests.domain.tenants import make_tenant
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.engine.adapters import WebcrmOrganisations
from webcrm_fortnox.engine.ports import RecordSource
from webcrm_fortnox.errors import ValidationError

# The emulator's demo field setup (its configuration module) is the default field table:
# ExtraCustom1 customer number, ExtraCustom2 organisation number, Custom1 visiting address,
# Custom6 a currency dropdown ("00: SEK"…). Some fields are moved here to Plus fields the
# emulator has not switched on, so that the check has something to report.
EMULATOR_FIELDS = {
    "visiting_zip_code": "OrganisationPlus1",
    "visiting_city": "OrganisationPlus2",
    "visiting_country": "OrganisationPlus3",
    "terms_of_payment": "OrganisationPlus4",
    "email": "OrganisationPlus5",
}

FIELDS = {
    "name": "Acme AB",
    "address1": "Storgatan 1",
    "address2": "Box 12",
    "zip_code": "111 22",
    "city": "Stockholm",
    "country": "SE",
    "phone": "08-123 45",
    "website": "www.acme.se",
    "fax": "08-123 00",
    "customer_type": "company",
    "customer_number": "17",
    "visiting_address": "Kungsgatan 2",
    "visiting_zip_code": "411 19",
    "visiting_city": "Göteborg",
    "visiting_country": "DK",
    "terms_of_payment": "30",
    "currency": "EUR",
    "vat_number": "SE556036079301",
    "organisation_number": "5560360793",
    "email": "info@acme.se",
}


def tenant(**overrides: Any) -> TenantConfig:
    return make_tenant(fields=EMULATOR_FIELDS, **overrides)


def source(env: Emulators, config: TenantConfig | None = None) -> WebcrmOrganisations:
    return WebcrmOrganisations(env.webcrm, config or tenant())


async def organisation(env: Emulators, **values: Any) -> int:
    return await env.webcrm.create_organisation(
        {"OrganisationName": "Org", "OrganisationType": "Customer", **values}
    )


def test_it_is_a_record_source(env: Emulators) -> None:
    assert isinstance(source(env), RecordSource)


async def test_the_default_field_table_meets_the_emulators_setup(env: Emulators) -> None:
    assert await source(env, make_tenant()).check_setup() == []


async def test_unsuitable_and_missing_fields_are_reported_clearly(env: Emulators) -> None:
    config = make_tenant(fields={"email": "OrganisationCustom8", "fax": "OrganisationCustom9"})
    problems = [str(p) for p in await source(env, config).check_setup()]
    assert problems == [
        "webCRM has no OrganisationCustom9 on organisations: create a custom field of kind text "
        "named 'Fax' as OrganisationCustom9, or map fields.fax to another field",
        "webCRM's OrganisationCustom8 ('Nyhetsbrev') is a checkbox field, but e-mail needs a "
        "field of kind text: change it in webCRM, or map fields.email to another field",
    ]


async def test_a_complete_setup_is_kept_and_an_incomplete_one_read_again(
    env: Emulators,
) -> None:
    await source(env, make_tenant()).check_setup()
    calls = env.webcrm.stats.calls
    assert await source(env, make_tenant()).check_setup() == []
    assert env.webcrm.stats.calls == calls  # the next run trusts it (for an hour)

    broken = make_tenant(fields={"fax": "OrganisationCustom9"})
    env.webcrm.forget_setup()
    assert await source(env, broken).check_setup() != []
    calls = env.webcrm.stats.calls
    await source(env, broken).check_setup()
    assert env.webcrm.stats.calls == calls + 1  # a person may be fixing it: asked again


async def test_a_table_fitting_the_setup_has_only_the_plus_fields_missing(
    env: Emulators,
) -> None:
    problems = await source(env).check_setup()
    assert {p.webcrm_field for p in problems} == {f"OrganisationPlus{n}" for n in range(1, 6)}


async def test_a_missing_type_option_is_reported(env: Emulators) -> None:
    config = tenant(customer_types=["Customer", "Private Customer", "Key Customer"])
    problems = [str(p) for p in await source(env, config).check_setup()]
    assert (
        "webCRM's organisation Type dropdown has no option 'Key Customer': add it in webCRM, "
        "or change customer_types"
    ) in problems


async def test_create_writes_every_field_the_type_and_the_key(env: Emulators) -> None:
    created = await source(env).create({**FIELDS, "customer_number": None}, "17")
    assert created.fields == FIELDS
    assert created.key == "17"
    assert created.eligible
    stored = (await env.webcrm.get_organisation(int(created.id))).model_dump(by_alias=True)
    assert stored["OrganisationType"] == "Customer"
    assert stored["OrganisationCustom6"] == "01: EUR"  # the dropdown's full option
    assert stored["OrganisationCountry"] == "Sverige"
    assert stored["OrganisationAddress"] == "Storgatan 1\nBox 12"
    assert stored["OrganisationExtraCustom2"] == "556036-0793"


async def test_private_customers_are_created_with_the_private_type(env: Emulators) -> None:
    created = await source(env).create({"name": "Anna", "customer_type": "private"}, "18")
    stored = await env.webcrm.get_organisation(int(created.id))
    assert stored.type == "Private Customer"
    assert created.fields["customer_type"] == "private"


async def test_a_value_the_dropdown_lacks_is_refused_with_its_field(env: Emulators) -> None:
    with pytest.raises(ValidationError) as caught:
        await source(env).create({"name": "X", "currency": "JPY"}, "19")
    assert caught.value.field == "currency"


async def test_update_changes_only_the_given_fields(env: Emulators) -> None:
    organisations = source(env)
    created = await organisations.create(FIELDS, "17")
    await env.webcrm.update_organisation(int(created.id), {"OrganisationIndustry": "Bygg"})
    updated = await organisations.update(
        created.id, {"phone": None, "customer_type": "private", "address2": "Box 99"}, created
    )
    assert updated.fields == {
        **created.fields,
        "phone": None,
        "customer_type": "private",
        "address2": "Box 99",
    }
    stored = await env.webcrm.get_organisation(int(created.id))
    assert stored.type == "Private Customer"
    assert stored.industry == "Bygg"  # what the sync does not own is left alone


async def test_a_type_that_already_fits_is_kept(env: Emulators) -> None:
    config = tenant(customer_types=["Customer", "Partner", "Private Customer"])
    organisations = source(env, config)
    org_id = await organisation(env, OrganisationType="Partner")
    current = await organisations.get(str(org_id))
    assert current is not None
    await organisations.update(str(org_id), {"customer_type": "company", "fax": "1"}, current)
    assert (await env.webcrm.get_organisation(org_id)).type == "Partner"


async def test_organisations_of_other_types_are_read_but_not_eligible(env: Emulators) -> None:
    await organisation(env, OrganisationName="Customer Ltd")
    await organisation(env, OrganisationName="Maybe Ltd", OrganisationType="Prospect")
    batch = await source(env).changes(None)
    eligible = {r.fields["name"]: (r.eligible, r.excluded_reason) for r in batch.records}
    assert eligible == {
        "Customer Ltd": (True, None),
        "Maybe Ltd": (False, "its Type (Prospect) is not one of the customer types that sync"),
    }
    assert [r.fields["name"] async for r in source(env).all()] == ["Customer Ltd", "Maybe Ltd"]


async def test_changes_since_a_cursor_skip_older_organisations(env: Emulators) -> None:
    organisations = source(env)
    older = await organisation(env, OrganisationName="Older")
    env.clock.advance(600)  # past the client's overlap window
    newer = await organisation(env, OrganisationName="Newer")
    first = await organisations.changes(None)
    assert {r.id for r in first.records} == {str(older), str(newer)}
    assert first.next_cursor is not None

    env.clock.advance(600)
    await env.webcrm.update_organisation(newer, {"OrganisationCity": "Lund"})
    env.clock.advance(10)
    batch = await organisations.changes(first.next_cursor)
    assert [r.id for r in batch.records] == [str(newer)]
    assert batch.records[0].fields["city"] == "Lund"
    assert batch.records[0].modified_at is not None
    assert batch.next_cursor is not None
    env.clock.advance(600)
    quiet = await organisations.changes(batch.next_cursor)
    assert quiet.records == []


async def test_find_by_key_looks_up_the_customer_number_field(env: Emulators) -> None:
    created = await source(env).create({"name": "Acme"}, "17")
    await organisation(env, OrganisationExtraCustom1="170")
    assert await source(env).find_by_key("17") == created
    assert await source(env).find_by_key("18") is None


async def test_get_of_a_missing_organisation_is_none(env: Emulators) -> None:
    assert await source(env).get("404") is None
