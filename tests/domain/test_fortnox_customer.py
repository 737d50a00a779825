"""A Fortnox customer ⇄ canonical fields."""

from __future__ import annotations

from typing import Any

import pytest

from webcrm_fortnox.domain.errors import MappingError
from webcrm_fortnox.domain.fields import CUSTOMER_FIELDS
from webcrm_fortnox.domain.fortnox_customer import (
    API_BLANK,
    customer_from_fortnox,
    customer_key,
    customer_payload,
)
from webcrm_fortnox.errors import ValidationError

# Shaped like GET /3/customers/{n} (recorded: customers/find_id_1.yml), with every synced field set.
FULL: dict[str, Any] = {
    "@url": "https://api.fortnox.se/3/customers/17",
    "Active": True,
    "Address1": "Storgatan  1",
    "Address2": "Box 12",
    "City": "Stockholm",
    "Country": "Sverige",
    "CountryCode": "SE",
    "Currency": "SEK",
    "CustomerNumber": "17",
    "Email": "info@acme.se",
    "ExternalReference": "4711",
    "Fax": "08-123 00",
    "Name": " Acme AB ",
    "OrganisationNumber": "556036-0793",
    "Phone1": "08-123 45",
    "TermsOfPayment": "30",
    "Type": "COMPANY",
    "VATNumber": "SE556036079301",
    "VisitingAddress": "Kungsgatan 2",
    "VisitingCity": "Göteborg",
    "VisitingCountry": "Danmark",
    "VisitingCountryCode": "DK",
    "VisitingZipCode": "411 19",
    "WWW": "www.acme.se",
    "ZipCode": "111 22",
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


def test_every_listed_field_is_read() -> None:
    assert customer_from_fortnox(FULL) == CANONICAL
    assert set(CANONICAL) == set(CUSTOMER_FIELDS)


def test_nulls_and_empty_strings_read_as_blank_and_type_defaults_to_company() -> None:
    # A minimal create's answer (recorded: customers/save_new.yml): mostly null or "".
    customer = customer_from_fortnox(
        {"Name": "A value", "CustomerNumber": "6", "Address1": None, "Email": "", "Currency": "SEK"}
    )
    assert customer["address1"] is None
    assert customer["email"] is None
    assert customer["customer_type"] == "company"
    assert customer["name"] == "A value"


def test_the_read_only_country_names_are_ignored() -> None:
    assert customer_from_fortnox({"Country": "Sverige", "CountryCode": None})["country"] is None


def test_private_customers_read_as_private() -> None:
    assert customer_from_fortnox({"Type": "PRIVATE"})["customer_type"] == "private"


def test_the_idempotency_key_is_read_from_the_external_reference() -> None:
    assert customer_key(FULL) == "4711"
    assert customer_key({"ExternalReference": None}) is None


def test_a_create_sends_every_value_but_no_blanks_and_no_number_by_default() -> None:
    values = {**CANONICAL, "fax": None}
    body = customer_payload(values, creating=True, key="4711")
    assert body == {
        "Name": "Acme AB",
        "Address1": "Storgatan 1",
        "Address2": "Box 12",
        "ZipCode": "111 22",
        "City": "Stockholm",
        "CountryCode": "SE",
        "Phone1": "08-123 45",
        "WWW": "www.acme.se",
        "Type": "COMPANY",
        "VisitingAddress": "Kungsgatan 2",
        "VisitingZipCode": "411 19",
        "VisitingCity": "Göteborg",
        "VisitingCountryCode": "DK",
        "TermsOfPayment": "30",
        "Currency": "SEK",
        "VATNumber": "SE556036079301",
        "OrganisationNumber": "556036-0793",
        "Email": "info@acme.se",
        "ExternalReference": "4711",
    }


def test_the_number_is_sent_on_create_when_webcrm_owns_it() -> None:
    body = customer_payload(CANONICAL, creating=True, send_customer_number=True)
    assert body["CustomerNumber"] == "17"


def test_an_update_sends_only_the_named_fields_and_clears_with_api_blank() -> None:
    body = customer_payload(
        {**CANONICAL, "phone": None, "customer_type": "private"},
        creating=False,
        fields=["phone", "customer_type", "city"],
    )
    assert body == {"Phone1": API_BLANK, "Type": "PRIVATE", "City": "Stockholm"}


def test_type_and_name_are_never_blanked() -> None:
    body = customer_payload({"customer_type": None, "name": None}, creating=False)
    assert body == {}


def test_read_only_fields_are_never_sent() -> None:
    body = customer_payload(CANONICAL, creating=True, send_customer_number=True, key="1")
    assert not {"Country", "VisitingCountry", "DeliveryCountry", "@url"} & set(body)


def test_renumbering_an_existing_customer_is_refused() -> None:
    with pytest.raises(MappingError) as caught:
        customer_payload({"customer_number": "99"}, creating=False)
    assert caught.value.field == "customer_number"
    assert isinstance(caught.value, ValidationError)


def test_a_country_fortnox_cannot_store_is_refused_with_the_field() -> None:
    with pytest.raises(MappingError) as caught:
        customer_payload({"visiting_country": "Atlantis"}, creating=False)
    assert caught.value.field == "visiting_country"
    assert "Atlantis" in str(caught.value)
