"""Articles: amounts, both mappings, the inactive mark, the spec and the product-register check."""

from __future__ import annotations

import pytest

from tests.domain.tenants import make_tenant
from webcrm_fortnox.domain.article import (
    ItemMapping,
    article_from_fortnox,
    article_spec,
    check_item_setup,
    money,
)
from webcrm_fortnox.engine.ports import Direction
from webcrm_fortnox.webcrm.models import LinkedSetup

P = "QuotationLineLinkedDataItem"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("199.5", "199.50"), (10, "10.00"), (1.125, "1.13"), ("", None), (None, None), ("x", None)],
)
def test_money_has_two_decimals_rounded_half_up(given: object, expected: str | None) -> None:
    assert money(given) == expected


def test_fortnox_list_item_becomes_canonical_with_strings_as_numbers() -> None:
    # recorded: articles/single_param_find_by_hash.yml lists PurchasePrice as "0", SalesPrice null
    item = {
        "ArticleNumber": "101",
        "Description": " Hammer ",
        "PurchasePrice": "0",
        "SalesPrice": None,
    }
    assert article_from_fortnox(item, active=True) == {
        "article_number": "101",
        "name": "Hammer",
        "cost_price": "0.00",
        "list_price": "0.00",
        "active": True,
    }


def test_a_configured_price_list_replaces_sales_price() -> None:
    item = {"ArticleNumber": "1", "Description": "A", "SalesPrice": 5}
    fields = article_from_fortnox(item, active=True, list_price="7.5", use_sales_price=False)
    assert fields["list_price"] == "7.50"


def test_inactive_article_is_marked_in_the_name_and_read_back() -> None:
    mapping = ItemMapping.of(make_tenant().articles)
    values = {
        "article_number": "7",
        "name": "Saw",
        "cost_price": "1.00",
        "list_price": "0.00",
        "active": False,
    }
    body = mapping.to_item(values)
    assert body[f"{P}Data1"] == "7"
    assert body[f"{P}Data2"] == "Saw (inactive)"
    assert body[f"{P}Price"] == 0.0
    assert mapping.to_canonical(body) == values


def test_changing_only_the_active_flag_rewrites_the_name_field() -> None:
    mapping = ItemMapping.of(make_tenant().articles)
    values = {"article_number": "7", "name": "Saw", "active": True}
    assert mapping.to_item(values, fields=["active"]) == {f"{P}Data2": "Saw"}


def test_configured_data_fields_are_used_and_dashes_read_as_blank() -> None:
    tenant = make_tenant(articles={"article_number_field": "Data4", "name_field": "Data1"})
    mapping = ItemMapping.of(tenant.articles)
    item = {f"{P}Data4": "A-1", f"{P}Data1": "Nail", f"{P}Data2": "-", f"{P}CostPrice": 2}
    assert mapping.to_canonical(item)["article_number"] == "A-1"
    assert mapping.to_canonical(item)["name"] == "Nail"
    assert ItemMapping.of(make_tenant().articles).to_canonical(item)["name"] == ""


def test_the_same_data_field_for_number_and_name_is_refused() -> None:
    with pytest.raises(Exception, match="different Data fields"):
        make_tenant(articles={"article_number_field": "Data2"})


def test_spec_flows_to_webcrm_only_and_lets_blanks_clear() -> None:
    spec = article_spec()
    assert spec.create_in == frozenset({"webcrm"})
    assert all(
        r.direction is Direction.TO_WEBCRM and r.blank_overwrites for r in spec.rules.values()
    )


def test_setup_check_names_the_unused_data_field() -> None:
    setup = LinkedSetup.model_validate(
        {
            "QuotationLineLinkedSetupUseLinkedField1": True,
            "QuotationLineLinkedSetupUseLinkedField2": False,
        }
    )
    problems = check_item_setup(make_tenant().articles, setup)
    assert len(problems) == 1
    assert "Data2" in problems[0] and "name" in problems[0]
