"""The customer entity as the engine is told about it."""

from __future__ import annotations

from tests.domain.tenants import make_tenant
from webcrm_fortnox.domain.customer_spec import customer_spec, synced_fields
from webcrm_fortnox.domain.fields import CUSTOMER_FIELDS
from webcrm_fortnox.engine.ports import Direction, Policy


def test_every_listed_field_syncs_by_default() -> None:
    spec = customer_spec(make_tenant())
    assert spec.entity == "customer"
    assert tuple(spec.rules) == CUSTOMER_FIELDS


def test_fields_left_out_of_webcrm_do_not_sync() -> None:
    tenant = make_tenant(
        fields={"email": ""}, customer_types=["Customer"], private_customer_types=[]
    )
    assert "email" not in synced_fields(tenant)
    assert "customer_type" not in customer_spec(tenant).rules


def test_rules_carry_the_configured_policies() -> None:
    tenant = make_tenant(
        field_policy={
            "phone": {"direction": "to_webcrm", "conflict": "newest", "blank_overwrites": True}
        }
    )
    rules = customer_spec(tenant).rules
    assert rules["phone"].direction is Direction.TO_WEBCRM
    assert rules["phone"].policy is Policy.NEWEST
    assert rules["phone"].blank_overwrites is True
    assert rules["name"].direction is Direction.BOTH
    assert rules["name"].policy is Policy.WEBCRM
    assert rules["currency"].policy is Policy.FORTNOX
    assert rules["customer_number"].direction is Direction.TO_WEBCRM


def test_customer_number_ownership_decides_its_direction_and_what_creates_need() -> None:
    fortnox_owned = customer_spec(make_tenant())
    assert fortnox_owned.required_for_create["fortnox"] == ("name",)
    webcrm_owned = customer_spec(make_tenant(customer_number_owner="webcrm"))
    assert webcrm_owned.rules["customer_number"].direction is Direction.TO_FORTNOX
    assert webcrm_owned.required_for_create["fortnox"] == ("name", "customer_number")


def test_match_keys_follow_the_issue_order_and_need_synced_fields() -> None:
    spec = customer_spec(make_tenant())
    assert [key.name for key in spec.match_keys] == [
        "customer number",
        "organisation number",
        "VAT number",
        "name and postcode",
    ]
    spec = customer_spec(make_tenant(fields={"organisation_number": "", "zip_code": ""}))
    assert [key.name for key in spec.match_keys] == ["customer number", "VAT number"]
