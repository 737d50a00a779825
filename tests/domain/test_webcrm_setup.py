"""Checking the configured webCRM custom fields against ``/FieldsMetadata``."""

from __future__ import annotations

from typing import Any

from tests.domain.tenants import make_tenant
from webcrm_fortnox.domain.webcrm_setup import (
    check_setup,
    dropdowns,
    required_fields,
    type_options,
)


def meta(
    name: str, display: str = "T", label: str = "", options: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {
        "FieldMetadataFriendlyFieldName": name,
        "FieldMetadataLabel": label or name,
        "FieldMetadataDisplayType": display,
        "FieldMetadataDropdownListData": [
            {"Text": o.split(": ", 1)[-1], "Value": o} for o in options
        ],
    }


COMPLETE = [
    meta("OrganisationType", "D", "Typ", ("00: Customer", "01: Private Customer", "02: Prospect")),
    meta("OrganisationName"),
    meta("OrganisationExtraCustom1", label="Kundnummer"),
    meta("OrganisationExtraCustom2"),
    *(meta(f"OrganisationCustom{n}") for n in range(1, 8)),
]


def test_the_default_table_needs_nine_custom_fields_and_no_standard_ones() -> None:
    needs = {need.webcrm_field: need for need in required_fields(make_tenant())}
    assert set(needs) == {
        "OrganisationExtraCustom1",
        "OrganisationExtraCustom2",
        *(f"OrganisationCustom{n}" for n in range(1, 8)),
    }
    assert needs["OrganisationExtraCustom1"].label == "Customer number"
    assert needs["OrganisationExtraCustom1"].kind == "text"
    assert needs["OrganisationCustom6"].kind == "text (or dropdown)"


def test_a_complete_setup_has_no_problems() -> None:
    assert check_setup(make_tenant(), COMPLETE) == []


def test_a_missing_custom_field_says_what_to_create() -> None:
    metadata = [m for m in COMPLETE if m["FieldMetadataFriendlyFieldName"] != "OrganisationCustom5"]
    (problem,) = check_setup(make_tenant(), metadata)
    assert problem.field == "terms_of_payment"
    assert str(problem) == (
        "webCRM has no OrganisationCustom5 on organisations: create a custom field of kind text "
        "(or dropdown) named 'Terms of payment' as OrganisationCustom5, or map "
        "fields.terms_of_payment to another field"
    )


def test_a_field_of_the_wrong_kind_is_reported() -> None:
    metadata = [
        meta("OrganisationExtraCustom1", "C", "Nyhetsbrev")
        if m["FieldMetadataFriendlyFieldName"] == "OrganisationExtraCustom1"
        else m
        for m in COMPLETE
    ]
    (problem,) = check_setup(make_tenant(), metadata)
    assert str(problem) == (
        "webCRM's OrganisationExtraCustom1 ('Nyhetsbrev') is a checkbox field, but customer "
        "number needs a field of kind text: change it in webCRM, or map fields.customer_number "
        "to another field"
    )


def test_dropdowns_are_fine_for_codes_but_not_for_identifiers() -> None:
    metadata = [
        meta("OrganisationCustom6", "D", "Valuta", ("00: SEK",))
        if m["FieldMetadataFriendlyFieldName"] == "OrganisationCustom6"
        else meta("OrganisationExtraCustom2", "D")
        if m["FieldMetadataFriendlyFieldName"] == "OrganisationExtraCustom2"
        else m
        for m in COMPLETE
    ]
    problems = check_setup(make_tenant(), metadata)
    assert [p.field for p in problems] == ["organisation_number"]
    assert dropdowns(make_tenant(), metadata) == {
        "OrganisationCustom6": ["00: SEK"],
        "OrganisationExtraCustom2": [],
    }


def test_types_missing_from_the_type_dropdown_are_reported() -> None:
    tenant = make_tenant(customer_types=["Customer", "Private Customer", "Key Customer"])
    problems = check_setup(tenant, COMPLETE)
    assert [str(p) for p in problems] == [
        "webCRM's organisation Type dropdown has no option 'Key Customer': add it in webCRM, "
        "or change customer_types"
    ]
    assert type_options(COMPLETE)[:2] == ["00: Customer", "01: Private Customer"]


def test_fields_left_out_or_standard_need_nothing() -> None:
    tenant = make_tenant(
        fields={"email": "", "currency": "OrganisationCurrencyName", "terms_of_payment": ""}
    )
    names = {need.webcrm_field for need in required_fields(tenant)}
    assert not {"OrganisationCustom7", "OrganisationCustom5", "OrganisationCustom6"} & names
