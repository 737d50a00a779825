"""Normal forms: white space, identifiers, countries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webcrm_fortnox.domain.normalise import (
    country_code,
    country_codes,
    country_name,
    display_organisation_number,
    normalise_field,
    organisation_number,
    text,
    vat_number,
)


def test_text_strips_and_collapses_white_space() -> None:
    assert text("  Acme \t  AB\n ") == "Acme AB"
    assert text(None) == ""
    assert text(12) == "12"


@given(st.text())
def test_text_is_idempotent(value: str) -> None:
    assert text(text(value)) == text(value)


def test_valid_swedish_organisation_numbers_take_the_compact_form() -> None:
    assert organisation_number(" 556036-0793 ") == "5560360793"
    assert organisation_number("5560360793") == "5560360793"
    assert display_organisation_number("5560360793") == "556036-0793"


def test_invalid_organisation_numbers_are_kept_as_given() -> None:
    assert organisation_number("556036-0794") == "556036-0794"
    assert organisation_number(" 12  34 ") == "12 34"
    assert display_organisation_number("12 34") == "12 34"


def test_valid_eu_vat_numbers_take_the_compact_form() -> None:
    assert vat_number("se 5560 3607 9301") == "SE556036079301"
    assert vat_number("DK 13 58 56 28") == "DK13585628"


def test_invalid_vat_numbers_are_kept_as_given() -> None:
    # A Norwegian number from webCRM's own sample data: not an EU VAT number.
    assert vat_number("826257377") == "826257377"
    assert vat_number("GB 123") == "GB 123"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Sverige", "SE"),
        ("sverige", "SE"),
        ("Danmark", "DK"),
        ("Sweden", "SE"),
        ("United Kingdom", "GB"),
        ("Storbritannien", "GB"),
        ("Norge", "NO"),
        ("Suomi", "FI"),
        ("Deutschland", "DE"),
        ("se", "SE"),
        ("DK", "DK"),
    ],
)
def test_country_names_in_known_languages_and_codes_become_codes(name: str, code: str) -> None:
    assert country_code(name) == code


def test_unknown_countries_are_kept_and_blank_stays_blank() -> None:
    assert country_code("  Atlantis ") == "Atlantis"
    assert country_code("") == ""
    assert country_code(None) == ""


def test_codes_are_written_in_the_configured_language() -> None:
    assert country_name("SE") == "Sverige"
    assert country_name("DK", "da") == "Danmark"
    assert country_name("GB", "en") == "United Kingdom"
    assert country_name("Atlantis") == "Atlantis"


def test_pseudo_territories_are_not_countries() -> None:
    codes = country_codes()
    assert {"SE", "DK", "NO", "FI", "GB", "DE", "US"} <= codes
    assert not {"EU", "UN", "ZZ", "XA", "001"} & codes


@pytest.mark.parametrize("language", ["sv", "da", "nb", "fi", "en", "de"])
def test_every_code_survives_its_name_in_each_language(language: str) -> None:
    for code in country_codes():
        assert country_code(country_name(code, language), language) == code


def test_fields_pick_their_normal_form() -> None:
    assert normalise_field("currency", " sek ") == "SEK"
    assert normalise_field("vat_number", "se556036079301") == "SE556036079301"
    assert normalise_field("organisation_number", "556036-0793") == "5560360793"
    assert normalise_field("customer_type", "PRIVATE") == "private"
    assert normalise_field("customer_type", None) == "company"
    assert normalise_field("visiting_country", "Danmark") == "DK"
    assert normalise_field("phone", " 08-123  45 67 ") == "08-123 45 67"
    assert normalise_field("website", " www.example.se ") == "www.example.se"
