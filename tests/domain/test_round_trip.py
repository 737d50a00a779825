"""Round trips: canonical → a system's form → canonical gives back the same record.

This is what keeps the sync free of echoes: what we write reads back equal to what we meant.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.domain.tenants import make_tenant
from webcrm_fortnox.domain.errors import MappingError
from webcrm_fortnox.domain.fields import CUSTOMER_FIELDS
from webcrm_fortnox.domain.fortnox_customer import (
    API_BLANK,
    FORTNOX_FIELDS,
    customer_from_fortnox,
    customer_payload,
)
from webcrm_fortnox.domain.normalise import country_codes, normalise_field, text
from webcrm_fortnox.domain.webcrm_organisation import (
    held_fields,
    organisation_payload,
    organisation_to_customer,
)

TENANT = make_tenant()
EN_TENANT = make_tenant(webcrm={"country_language": "en"})
CODES = sorted(country_codes())

plain_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30
).map(text)
# "API_BLANK" is Fortnox's clear command, refused by the mapping (tested on its own below).
blank_or = st.one_of(st.none(), plain_text.filter(lambda v: bool(v) and v.upper() != "API_BLANK"))
VALID_ORGNRS = ["5560360793", "2021005489", "8112289874"]
VALID_VATS = ["SE556036079301", "DK13585628", "FI20774740"]


def canonical(field: str, value: str | None) -> str | None:
    return normalise_field(field, value) or None if value is not None else None


@st.composite
def customers(draw: st.DrawFn, *, countries: list[str]) -> dict[str, str | None]:
    record: dict[str, str | None] = {}
    for field in CUSTOMER_FIELDS:
        if field == "customer_type":
            record[field] = draw(st.sampled_from(["company", "private"]))
        elif field in ("country", "visiting_country"):
            record[field] = draw(st.one_of(st.none(), st.sampled_from(countries)))
        elif field == "organisation_number":
            record[field] = draw(st.one_of(blank_or, st.sampled_from(VALID_ORGNRS)))
        elif field == "vat_number":
            record[field] = draw(st.one_of(blank_or, st.sampled_from(VALID_VATS)))
        else:
            record[field] = draw(blank_or)
        record[field] = canonical(field, record[field])
    return record


def stored_by_fortnox(payload: dict[str, Any]) -> dict[str, Any]:
    """What Fortnox holds after a partial PUT of ``payload`` onto an empty customer."""
    stored: dict[str, Any] = dict.fromkeys(FORTNOX_FIELDS.values())
    stored["Type"] = "COMPANY"
    for key, value in payload.items():
        stored[key] = None if value == API_BLANK else value
    return stored


@settings(max_examples=150)
@given(customers(countries=CODES))
def test_fortnox_round_trip(record: dict[str, str | None]) -> None:
    created = stored_by_fortnox(customer_payload(record, creating=True, send_customer_number=True))
    assert customer_from_fortnox(created) == record


@settings(max_examples=150)
@given(customers(countries=CODES), customers(countries=CODES))
def test_fortnox_update_round_trip(
    before: dict[str, str | None], after: dict[str, str | None]
) -> None:
    stored = stored_by_fortnox(customer_payload(before, creating=True, send_customer_number=True))
    fields = [f for f in CUSTOMER_FIELDS if f != "customer_number" and before[f] != after[f]]
    stored.update(customer_payload(after, creating=False, fields=fields))
    stored = {k: (None if v == API_BLANK else v) for k, v in stored.items()}
    expected = {**after, "customer_number": before["customer_number"]}
    if after["name"] is None:
        expected["name"] = before["name"]  # a customer's name is never blanked
    assert customer_from_fortnox(stored) == expected


@settings(max_examples=150)
@given(customers(countries=[*CODES, "Atlantis"]))
def test_webcrm_round_trip(record: dict[str, str | None]) -> None:
    for tenant in (TENANT, EN_TENANT):
        organisation = organisation_payload(record, tenant)
        held = held_fields(tenant)
        assert organisation_to_customer(organisation, tenant) == {
            f: v for f, v in record.items() if f in held
        }


@settings(max_examples=100)
@given(customers(countries=CODES))
def test_fortnox_to_webcrm_and_back_keeps_every_field(record: dict[str, str | None]) -> None:
    from_fortnox = customer_from_fortnox(
        stored_by_fortnox(customer_payload(record, creating=True, send_customer_number=True))
    )
    in_webcrm = organisation_to_customer(organisation_payload(from_fortnox, TENANT), TENANT)
    back = customer_from_fortnox(
        stored_by_fortnox(customer_payload(in_webcrm, creating=True, send_customer_number=True))
    )
    assert back == record


def test_the_clear_command_as_a_value_is_refused_not_sent() -> None:
    with pytest.raises(MappingError) as caught:
        customer_payload({"email": "api_blank"}, creating=False)
    assert caught.value.field == "email"
