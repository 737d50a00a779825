"""Matching customers by name and postcode: spaces in a postcode do not make two companies."""

from __future__ import annotations

from typing import Any

from tests.domain.tenants import make_tenant
from webcrm_fortnox.domain.customer_spec import MATCH_KEYS, customer_spec
from webcrm_fortnox.domain.fortnox_customer import customer_from_fortnox
from webcrm_fortnox.domain.webcrm_organisation import organisation_to_customer
from webcrm_fortnox.engine.matching import match_records
from webcrm_fortnox.engine.ports import SourceRecord


def organisation(id: str, **values: Any) -> SourceRecord:
    body = {"OrganisationName": "Acme AB", "OrganisationType": "Customer", **values}
    return SourceRecord(id, organisation_to_customer(body, make_tenant()))


def customer(id: str, **values: Any) -> SourceRecord:
    return SourceRecord(id, customer_from_fortnox({"Name": "Acme AB", **values}))


def pairs(webcrm: list[SourceRecord], fortnox: list[SourceRecord]) -> list[tuple[str, str, str]]:
    keys = customer_spec(make_tenant()).match_keys
    result = match_records(keys, webcrm, fortnox)
    return [(p.webcrm.id, p.fortnox.id, p.key) for p in result.pairs]


def test_postcodes_written_with_and_without_the_space_match() -> None:
    webcrm = [organisation("7", OrganisationPostCode="123 45")]
    fortnox = [customer("12", ZipCode="12345")]
    assert pairs(webcrm, fortnox) == [("7", "12", "name and postcode")]
    assert pairs(
        [organisation("7", OrganisationPostCode=" 12345\t")], [customer("12", ZipCode="123  45")]
    ) == [("7", "12", "name and postcode")]


def test_different_postcodes_or_names_do_not_match() -> None:
    assert (
        pairs(
            [organisation("7", OrganisationPostCode="123 45")], [customer("12", ZipCode="123 46")]
        )
        == []
    )
    assert pairs([organisation("7", OrganisationName="Acme Bygg AB",
                               OrganisationPostCode="123 45")],
                 [customer("12", ZipCode="12345")]) == []  # fmt: skip


def test_two_spellings_of_one_postcode_on_one_side_are_ambiguous() -> None:
    webcrm = [organisation("7", OrganisationPostCode="123 45")]
    fortnox = [customer("12", ZipCode="12345"), customer("13", ZipCode="123 45")]
    result = match_records(MATCH_KEYS, webcrm, fortnox)
    assert result.pairs == []
    [ambiguity] = result.ambiguous
    assert {r.id for r in ambiguity.fortnox} == {"12", "13"}


def test_matching_never_changes_what_syncs() -> None:
    """The postcode each side holds is kept as typed; only the comparison ignores spaces."""
    assert organisation("7", OrganisationPostCode="123 45").fields["zip_code"] == "123 45"
    assert customer("12", ZipCode="12345").fields["zip_code"] == "12345"


def test_invisible_characters_and_odd_spacing_do_not_hide_a_name() -> None:
    webcrm = [organisation("7", OrganisationName="Acme\u200b  AB\x07", OrganisationPostCode="1")]
    fortnox = [customer("12", Name="\ufeffAcme AB", ZipCode="1")]
    assert pairs(webcrm, fortnox) == [("7", "12", "name and postcode")]
