"""Values people type that must never stop a run: each is normalised, or refused for its record."""

from __future__ import annotations

import pytest

from webcrm_fortnox.domain.document import document_payload
from webcrm_fortnox.domain.errors import MappingError
from webcrm_fortnox.domain.line import Line, number, rows_from_lines
from webcrm_fortnox.domain.normalise import text


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        (1e15, "1000000000000000"),
        (1e30, "1" + "0" * 30),
        ("-1e30", "-1" + "0" * 30),
        (1e-30, "0"),
        (-0.004, "0"),
        (10.555, "10.56"),
        ("12.345", "12.35"),
        ("Infinity", "Infinity"),  # kept as text: Fortnox refuses it as not numeric
        ("tio", "0"),
        (None, "0"),
    ],
)
def test_numbers_of_any_size_have_a_normal_form(value: object, normal: str) -> None:
    assert number(value) == normal


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("Bell\x07\x1b AB", "Bell AB"),
        ("\u202eRTL AB", "RTL AB"),
        ("Noll\u200bbredd\u00ad AB\ufeff", "Nollbredd AB"),
        ("Nul\x00 AB\x7f", "Nul AB"),
        (" Rad 1\n\tRad 2 ", "Rad 1 Rad 2"),
        ("Café ☕", "Café ☕"),  # visible, so kept (and Fortnox refuses it, for that record)
    ],
)
def test_invisible_characters_are_dropped(value: str, normal: str) -> None:
    assert text(value) == normal


@pytest.mark.parametrize("day", ["imorgon", "2026-02-31", "31/12/2026", "2026-13-01"])
def test_a_date_that_is_no_date_fails_its_record_with_the_field(day: str) -> None:
    with pytest.raises(MappingError) as refused:
        document_payload("order", {"delivery_date": day}, ["delivery_date"])
    assert refused.value.field == "delivery_date"
    assert repr(day) in refused.value.explanation


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "2024-02-29"])
def test_calendar_dates_pass_as_they_are(day: str) -> None:
    payload = document_payload("order", {"order_date": day}, ["order_date"])
    assert payload == {"OrderDate": day}


def test_a_line_text_that_is_fortnoxs_clearing_word_fails_its_record() -> None:
    lines = [
        Line.of(article=None, description="A", quantity=1, price=1, discount=0, vat=25),
        Line.of(article=None, description="api_blank", quantity=1, price=1, discount=0, vat=25),
    ]
    with pytest.raises(MappingError) as refused:
        rows_from_lines(lines, "OrderedQuantity")
    assert refused.value.field == "lines"
    assert refused.value.explanation.startswith("line 2: ")
