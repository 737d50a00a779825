"""A webCRM organisation ⇄ canonical fields, under the configured field table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.domain.tenants import make_tenant
from webcrm_fortnox.domain.errors import MappingError
from webcrm_fortnox.domain.webcrm_organisation import (
    dropdown_label,
    held_fields,
    join_address,
    organisation_modified_at,
    organisation_payload,
    organisation_to_customer,
    split_address,
)

# An OrganisationDto as the API returns it (unset strings are "", reference §4.2), laid out in
# the default field table.
ORGANISATION: dict[str, Any] = {
    "OrganisationId": 145,
    "OrganisationName": "Acme  AB",
    "OrganisationAddress": "Storgatan 1\nBox 12",
    "OrganisationPostCode": "111 22",
    "OrganisationCity": "Stockholm",
    "OrganisationCountry": "Sverige",
    "OrganisationTelephone": "08-123 45",
    "OrganisationFax": "08-123 00",
    "OrganisationWww": "www.acme.se",
    "OrganisationVatNumber": "SE 556036079301",
    "OrganisationType": "Customer",
    "OrganisationExtraCustom1": "17",
    "OrganisationExtraCustom2": "556036-0793",
    "OrganisationCustom1": "Kungsgatan 2",
    "OrganisationCustom2": "411 19",
    "OrganisationCustom3": "Göteborg",
    "OrganisationCustom4": "Danmark",
    "OrganisationCustom5": "30",
    "OrganisationCustom6": "sek",
    "OrganisationCustom7": "info@acme.se",
    "OrganisationUpdatedAt": "2018-06-04T08:23:55+02:00",
    "OrganisationStatus": "-- vælg --",
}

CANONICAL = {
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
    "currency": "SEK",
    "vat_number": "SE556036079301",
    "organisation_number": "5560360793",
    "email": "info@acme.se",
}


def test_every_listed_field_is_read_from_its_default_place() -> None:
    assert organisation_to_customer(ORGANISATION, make_tenant()) == CANONICAL


def test_every_listed_field_is_written_to_its_default_place() -> None:
    body = organisation_payload(CANONICAL, make_tenant(), current_type="Customer")
    assert body == {
        "OrganisationName": "Acme AB",
        "OrganisationAddress": "Storgatan 1\nBox 12",
        "OrganisationPostCode": "111 22",
        "OrganisationCity": "Stockholm",
        "OrganisationCountry": "Sverige",
        "OrganisationTelephone": "08-123 45",
        "OrganisationFax": "08-123 00",
        "OrganisationWww": "www.acme.se",
        "OrganisationVatNumber": "SE556036079301",
        "OrganisationType": "Customer",
        "OrganisationExtraCustom1": "17",
        "OrganisationExtraCustom2": "556036-0793",
        "OrganisationCustom1": "Kungsgatan 2",
        "OrganisationCustom2": "411 19",
        "OrganisationCustom3": "Göteborg",
        "OrganisationCustom4": "Danmark",
        "OrganisationCustom5": "30",
        "OrganisationCustom6": "SEK",
        "OrganisationCustom7": "info@acme.se",
    }


def test_the_field_table_moves_fields_and_leaves_some_out() -> None:
    tenant = make_tenant(
        fields={"customer_number": "OrganisationExtraCustom8", "email": "", "fax": ""},
        webcrm={"country_language": "en"},
    )
    organisation = {**ORGANISATION, "OrganisationExtraCustom8": "99"}
    customer = organisation_to_customer(organisation, tenant)
    assert customer["customer_number"] == "99"
    assert "email" not in customer
    assert "fax" not in customer
    body = organisation_payload(CANONICAL, tenant, current_type="Customer")
    assert body["OrganisationExtraCustom8"] == "17"
    assert body["OrganisationCountry"] == "Sweden"
    assert "OrganisationCustom7" not in body
    assert "OrganisationFax" not in body
    assert "email" not in held_fields(tenant)


def test_blank_strings_read_as_none_and_none_writes_an_empty_string() -> None:
    customer = organisation_to_customer(
        {"OrganisationName": "X", "OrganisationFax": ""}, make_tenant()
    )
    assert customer["fax"] is None
    assert customer["address1"] is None
    body = organisation_payload(
        {"fax": None}, make_tenant(), fields=["fax"], current_type="Customer"
    )
    assert body == {"OrganisationFax": ""}


def test_the_type_says_private_or_company() -> None:
    tenant = make_tenant()
    private = organisation_to_customer({"OrganisationType": "Private Customer"}, tenant)
    assert private["customer_type"] == "private"
    body = organisation_payload({"customer_type": "private"}, tenant, current_type="Customer")
    assert body == {"OrganisationType": "Private Customer"}


def test_without_private_types_webcrm_does_not_hold_the_customer_type() -> None:
    tenant = make_tenant(customer_types=["Customer"], private_customer_types=[])
    assert "customer_type" not in organisation_to_customer(ORGANISATION, tenant)
    assert "customer_type" not in held_fields(tenant)


def test_a_new_organisation_always_gets_a_type_that_syncs() -> None:
    tenant = make_tenant()
    assert organisation_payload({"name": "N"}, tenant)["OrganisationType"] == "Customer"
    body = organisation_payload({"name": "N", "customer_type": "private"}, tenant)
    assert body["OrganisationType"] == "Private Customer"


def test_an_update_keeps_a_type_that_is_already_right() -> None:
    tenant = make_tenant(customer_types=["Customer", "Key Customer", "Private Customer"])
    body = organisation_payload({"customer_type": "company"}, tenant, current_type="Key Customer")
    assert body == {"OrganisationType": "Key Customer"}


@pytest.mark.parametrize(
    ("stored", "lines"),
    [
        ("Storgatan 1", ("Storgatan 1", None)),
        ("Storgatan 1\nBox 12", ("Storgatan 1", "Box 12")),
        ("Storgatan 1\r\nBox 12\nFloor 3", ("Storgatan 1", "Box 12, Floor 3")),
        ("\nBox 12", (None, "Box 12")),
        ("", (None, None)),
    ],
)
def test_the_address_field_holds_both_lines(stored: str, lines: tuple[str, str]) -> None:
    assert split_address(stored) == lines


def test_writing_one_address_line_writes_both() -> None:
    assert join_address("Storgatan 1", None) == "Storgatan 1"
    assert join_address(None, "Box 12") == "\nBox 12"
    body = organisation_payload(
        {"address1": "Storgatan 1", "address2": "Box 12"},
        make_tenant(),
        fields=["address2"],
        current_type="Customer",
    )
    assert body == {"OrganisationAddress": "Storgatan 1\nBox 12"}


def test_dropdown_fields_read_their_label_and_write_the_full_option() -> None:
    tenant = make_tenant()
    dropdowns = {"OrganisationCustom6": ["00: SEK", "01: EUR"]}
    organisation = {**ORGANISATION, "OrganisationCustom6": "01: EUR"}
    assert organisation_to_customer(organisation, tenant, dropdowns)["currency"] == "EUR"
    unset = {**ORGANISATION, "OrganisationCustom6": "-- vælg --"}
    assert organisation_to_customer(unset, tenant, dropdowns)["currency"] is None
    body = organisation_payload(
        {"currency": "EUR"}, tenant, current_type="Customer", dropdowns=dropdowns
    )
    assert body == {"OrganisationCustom6": "01: EUR"}
    assert dropdown_label("07: 7 dage") == "7 dage"
    assert dropdown_label("Plain: text") == "Plain: text"


def test_a_value_missing_from_a_dropdown_is_refused_with_the_options() -> None:
    with pytest.raises(MappingError) as caught:
        organisation_payload(
            {"currency": "NOK"},
            make_tenant(),
            current_type="Customer",
            dropdowns={"OrganisationCustom6": ["00: SEK", "01: EUR"]},
        )
    assert caught.value.field == "currency"
    assert "SEK, EUR" in str(caught.value)


def test_the_modification_time_is_read_with_its_offset() -> None:
    assert organisation_modified_at(ORGANISATION) == datetime(2018, 6, 4, 6, 23, 55, tzinfo=UTC)
    naive = organisation_modified_at({"OrganisationUpdatedAt": "2018-01-04T08:23:55"})
    assert naive == datetime(2018, 1, 4, 7, 23, 55, tzinfo=UTC)
    assert organisation_modified_at({"OrganisationUpdatedAt": "0001-01-01T00:00:00"}) is None
    assert organisation_modified_at({}) is None
