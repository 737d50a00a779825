"""Checks spanning several keys, and per-field policies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from webcrm_fortnox.config import ConfigError, TenantConfig, parse_config

ENV = {"TOKEN": "t", "SECRET": "s"}


def tenant(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "acme",
        "customer_types": ["Customer", "Private Customer"],
        "private_customer_types": ["Private Customer"],
        "new_customer_type": "Customer",
        "webcrm": {"api_token": "env:TOKEN"},
        "fortnox": {"client_id": "c", "client_secret": "env:SECRET", "tenant_id": 1},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def problems(*tenants: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config({"tenant": list(tenants)}, Path("c.toml"), environ=ENV)
    return [str(p) for p in caught.value.problems]


def parsed(data: dict[str, Any]) -> TenantConfig:
    return parse_config({"tenant": [data]}, Path("c.toml"), environ=ENV).tenant[0]


def test_tenant_names_must_be_unique() -> None:
    assert problems(tenant(), tenant(name="other"), tenant()) == [
        "tenant[2].name: 'acme' is already the name of tenant[0]; tenant names must be unique"
    ]


def test_tenant_names_must_be_simple_identifiers() -> None:
    (problem,) = problems(tenant(name="acme corp"))
    assert problem.startswith("tenant[0].name: String should match pattern")


def test_private_types_must_be_customer_types() -> None:
    assert problems(tenant(private_customer_types=["Consumer"])) == [
        "tenant[0].private_customer_types: 'Consumer' is not one of customer_types; "
        "add it there too or remove it"
    ]


def test_type_values_compare_without_case_spacing_or_dropdown_prefix() -> None:
    data = tenant(
        customer_types=["01: Customer", "02: Private  customer"],
        private_customer_types=["private customer"],
        new_customer_type="customer",
    )
    assert parsed(data).private_customer_types == ["private customer"]


def test_new_customer_type_must_sync_and_be_a_company_type() -> None:
    assert problems(tenant(new_customer_type="Prospect")) == [
        "tenant[0].new_customer_type: 'Prospect' is not one of customer_types, so organisations "
        "created from Fortnox would not sync back"
    ]
    (problem,) = problems(tenant(new_customer_type="Private Customer"))
    assert problem.startswith("tenant[0].new_customer_type: 'Private Customer' is a private")
    (problem,) = problems(tenant(new_private_customer_type="Customer"))
    assert problem.startswith("tenant[0].new_private_customer_type: 'Customer' is not one of")


def test_types_for_new_organisations_default_sensibly() -> None:
    data = tenant()
    del data["new_customer_type"]
    config = parsed(
        {**data, "customer_types": ["Private Customer", "Customer"], "private_customer_types": []}
    )
    assert config.company_type_for_new == "Private Customer"
    assert config.private_type_for_new is None
    config = parsed(data)
    assert config.company_type_for_new == "Customer"
    assert config.private_type_for_new == "Private Customer"


@pytest.mark.parametrize(
    ("section", "key", "url"),
    [
        ("webcrm", "base_url", "http://api.webcrm.com"),
        ("fortnox", "base_url", "http://api.fortnox.se"),
        ("fortnox", "auth_url", "http://apps.fortnox.se"),
        ("fortnox", "ws_url", "ws://ws.fortnox.se/topics-v1"),
    ],
)
def test_plain_http_is_refused_off_loopback(section: str, key: str, url: str) -> None:
    (problem,) = problems(tenant(**{section: {key: url}}))
    assert problem.startswith(f"tenant[0].{section}.{key}: {url!r} would send credentials")
    assert "allow_insecure_http = true" in problem
    assert parsed(tenant(allow_insecure_http=True, **{section: {key: url}}))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.3.4.5"])
def test_plain_http_is_fine_on_loopback(host: str) -> None:
    config = parsed(
        tenant(webcrm={"base_url": f"http://{host}:8782"}, fortnox={"ws_url": f"ws://{host}/t"})
    )
    assert config.webcrm.base_url == f"http://{host}:8782"


def test_urls_need_a_known_scheme_and_a_host() -> None:
    assert problems(
        tenant(webcrm={"base_url": "ftp://x"}), tenant(name="b", fortnox={"auth_url": "https://"})
    ) == [
        "tenant[0].webcrm.base_url: 'ftp://x' is not a https:// URL with a host name",
        "tenant[1].fortnox.auth_url: 'https://' is not a https:// URL with a host name",
    ]


def test_a_service_account_needs_the_tenant_id() -> None:
    data = tenant()
    del data["fortnox"]["tenant_id"]
    (problem,) = problems(data)
    assert problem.startswith("tenant[0].fortnox.tenant_id: is required with auth")
    data["fortnox"]["auth"] = "authorization-code"
    assert parsed(data).fortnox.tenant_id is None


def test_field_mappings_must_name_distinct_organisation_text_fields() -> None:
    assert problems(
        tenant(
            fields={
                "email": "OrganisationCustom16",
                "currency": "OrganisationExtraCustom1",
                "fax": "OrganisationName",
            }
        )
    ) == [
        "tenant[0].fields.fax: OrganisationName already holds the name, address or Type",
        "tenant[0].fields.currency: OrganisationExtraCustom1 is already used by "
        "fields.customer_number",
        "tenant[0].fields.email: 'OrganisationCustom16' is not a webCRM organisation text field "
        "(expected e.g. OrganisationCustom1..15, OrganisationExtraCustom1..8, or a standard "
        "field such as OrganisationTelephone)",
    ]


def test_a_field_can_be_left_out_but_the_customer_number_cannot() -> None:
    config = parsed(tenant(fields={"email": "", "fax": "OrganisationPlus20"}))
    mapping = config.fields.mapping()
    assert "email" not in mapping
    assert mapping["fax"] == "OrganisationPlus20"
    (problem,) = problems(tenant(fields={"customer_number": ""}))
    assert problem.startswith("tenant[0].fields.customer_number: must name a webCRM field")


def test_unknown_fields_are_rejected() -> None:
    (problem,) = problems(tenant(fields={"mobile": "OrganisationCustom9"}))
    assert problem == "tenant[0].fields.mobile: is not a known setting (misspelt?)"


def test_field_policies_merge_over_per_field_defaults() -> None:
    config = parsed(
        tenant(
            field_policy={"phone": {"direction": "to_fortnox"}, "currency": {"conflict": "manual"}}
        )
    )
    phone = config.policy("phone")
    assert (phone.direction, phone.conflict, phone.blank_overwrites) == (
        "to_fortnox",
        "webcrm",
        False,
    )
    currency = config.policy("currency")
    assert (currency.direction, currency.conflict) == ("both", "manual")
    assert config.policy("terms_of_payment").conflict == "fortnox"
    assert config.policy("name").conflict == "webcrm"
    assert config.policy("email").blank_overwrites is False


def test_blank_overwrites_can_be_switched_on_per_field() -> None:
    config = parsed(tenant(field_policy={"fax": {"blank_overwrites": True}}))
    assert config.policy("fax").blank_overwrites is True
    assert config.policy("phone").blank_overwrites is False


def test_the_customer_number_flows_from_its_owner() -> None:
    fortnox_owned = parsed(tenant()).policy("customer_number")
    assert (fortnox_owned.direction, fortnox_owned.conflict) == ("to_webcrm", "fortnox")
    webcrm_owned = parsed(tenant(customer_number_owner="webcrm")).policy("customer_number")
    assert (webcrm_owned.direction, webcrm_owned.conflict) == ("to_fortnox", "webcrm")
    (problem,) = problems(tenant(field_policy={"customer_number": {"direction": "both"}}))
    assert problem.startswith("tenant[0].field_policy.customer_number.direction: the customer")


def test_policies_of_unknown_fields_and_values_are_rejected() -> None:
    assert problems(tenant(field_policy={"phone": {"conflict": "loudest"}})) == [
        "tenant[0].field_policy.phone.conflict: Input should be 'webcrm', 'fortnox', 'newest' "
        "or 'manual' (got 'loudest')"
    ]
    (problem,) = problems(tenant(field_policy={"mobile": {}}))
    assert problem.startswith("tenant[0].field_policy.mobile: 'mobile' is not a customer field")


def test_the_country_language_must_be_known() -> None:
    (problem,) = problems(tenant(webcrm={"country_language": "xx"}))
    assert problem.startswith("tenant[0].webcrm.country_language: 'xx' is not a language code")
    assert parsed(tenant(webcrm={"country_language": "da"})).webcrm.country_language == "da"
