"""The Type filter."""

from __future__ import annotations

import pytest

from tests.domain.tenants import make_tenant
from webcrm_fortnox.domain.types import (
    customer_type_of,
    is_synced_type,
    type_key,
    webcrm_type_for,
)


def test_type_keys_ignore_case_spacing_and_the_dropdown_prefix() -> None:
    assert type_key(" 01:  Private   Customer ") == "private customer"
    assert type_key("Private customer") == "private customer"
    assert type_key("12:Customer") == "customer"
    assert type_key(None) == ""


@pytest.mark.parametrize(
    ("value", "synced"),
    [
        ("Customer", True),
        ("customer", True),
        ("  CUSTOMER ", True),
        ("01: Customer", True),
        ("Private  Customer", True),
        ("Prospect", False),
        ("-- vælg --", False),
        ("", False),
        (None, False),
    ],
)
def test_only_configured_types_sync(value: str | None, synced: bool) -> None:
    assert is_synced_type(value, make_tenant()) is synced


def test_private_types_make_private_customers() -> None:
    tenant = make_tenant()
    assert customer_type_of("02: private customer", tenant) == "private"
    assert customer_type_of("Customer", tenant) == "company"
    assert customer_type_of("Prospect", tenant) == "company"


def test_an_organisation_keeps_a_type_that_already_says_the_right_thing() -> None:
    tenant = make_tenant(
        customer_types=["Customer", "Key Customer", "Private Customer"],
    )
    assert webcrm_type_for("company", "Key Customer", tenant) == "Key Customer"
    assert webcrm_type_for("private", "01: Private Customer", tenant) == "01: Private Customer"


def test_otherwise_it_gets_the_type_for_new_customers_of_that_kind() -> None:
    tenant = make_tenant()
    assert webcrm_type_for("private", "Customer", tenant) == "Private Customer"
    assert webcrm_type_for("company", "Private Customer", tenant) == "Customer"
    assert webcrm_type_for("company", None, tenant) == "Customer"
    assert webcrm_type_for("company", "Prospect", tenant) == "Customer"


def test_without_private_types_every_new_organisation_is_a_company() -> None:
    tenant = make_tenant(customer_types=["Customer"], private_customer_types=[])
    assert webcrm_type_for("private", None, tenant) == "Customer"
