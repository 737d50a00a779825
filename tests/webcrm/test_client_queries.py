"""The /Queries script builder: values stay literals, names come only from allow-lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webcrm_fortnox.webcrm.queries import Query, quote

PREFIX = "SELECT * FROM Organisation WHERE OrganisationName = "


def read_literal(text: str) -> tuple[str, str]:
    """Split a leading quoted literal off ``text``, the way an SQL tokenizer would."""
    assert text.startswith("'")
    value, i = [], 1
    while True:
        quote_at = text.index("'", i)
        value.append(text[i:quote_at])
        if text[quote_at + 1 : quote_at + 2] == "'":
            value.append("'")
            i = quote_at + 2
        else:
            return "".join(value), text[quote_at + 1 :]


def test_select_where_order() -> None:
    query = (
        Query("organisation")
        .where("OrganisationExtraCustom8", "=", "10042")
        .where("OrganisationXInt1", ">", 3)
        .order_by("OrganisationUpdatedAt", "DESC")
    )
    assert query.script == (
        "SELECT * FROM Organisation WHERE OrganisationExtraCustom8 = '10042' "
        "AND OrganisationXInt1 > 3 ORDER BY OrganisationUpdatedAt DESC"
    )


def test_queries_are_immutable() -> None:
    base = Query("Delivery")
    narrowed = base.where("DeliveryNumber", "=", "7")
    assert base.script == "SELECT * FROM Delivery"
    assert narrowed.script.endswith("WHERE DeliveryNumber = '7'")


@pytest.mark.parametrize(
    ("hostile", "literal"),
    [
        ("O'Brien", "'O''Brien'"),
        ("x' OR 1=1 --", "'x'' OR 1=1 --'"),
        ("'; DELETE FROM Organisation; --", "'''; DELETE FROM Organisation; --'"),
        ("''", "''''''"),
        ("Ærø Kø — 東京 '😀'", "'Ærø Kø — 東京 ''😀'''"),
        ("back\\slash' AND 1=1", "'back\\slash'' AND 1=1'"),
        ("line\nbreak", "'line\nbreak'"),
    ],
)
def test_hostile_strings_stay_one_literal(hostile: str, literal: str) -> None:
    script = Query("Organisation").where("OrganisationName", "=", hostile).script
    assert script == PREFIX + literal
    assert read_literal(script.removeprefix(PREFIX)) == (hostile, "")


@given(st.text(alphabet=st.characters(exclude_characters="\x00")))
def test_no_string_can_end_its_literal_early(value: str) -> None:
    script = Query("Organisation").where("OrganisationName", "=", value).script
    assert script.startswith(PREFIX)
    assert read_literal(script.removeprefix(PREFIX)) == (value, "")


def test_nul_characters_are_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        Query("Organisation").where("OrganisationName", "=", "a\x00b")


@pytest.mark.parametrize(
    "name",
    [
        "OrganisationName = 'x' OR 1",
        "OrganisationName--",
        "Organisation Name",
        "PersonEmail",  # a field of another table
        "1Organisation",
        "OrganisationNäme",
        "",
    ],
)
def test_field_names_are_checked(name: str) -> None:
    with pytest.raises(ValueError, match="not a field"):
        Query("Organisation").where(name, "=", "x")
    with pytest.raises(ValueError, match="not a field"):
        Query("Organisation").order_by(name)


@pytest.mark.parametrize("table", ["Organisation; DROP", "Users", "Organisation t", ""])
def test_tables_come_from_the_known_list(table: str) -> None:
    with pytest.raises(ValueError, match="unknown webCRM query table"):
        Query(table)


@pytest.mark.parametrize("op", ["<>", "LIKE", "= 1 OR 1 =", "=="])
def test_operators_come_from_the_known_list(op: str) -> None:
    with pytest.raises(ValueError, match="unsupported operator"):
        Query("Organisation").where("OrganisationName", op, "x")  # type: ignore[arg-type]


def test_order_direction_is_checked() -> None:
    with pytest.raises(ValueError, match="ASC or DESC"):
        Query("Organisation").order_by("OrganisationName", "DESC; --")  # type: ignore[arg-type]


def test_numbers_are_bare_and_booleans_refused() -> None:
    assert quote(7) == "7" and quote(2.5) == "2.5"
    with pytest.raises(ValueError):
        quote(True)
    with pytest.raises(ValueError):
        quote(float("nan"))


def test_timestamps_are_utc_in_dotnet_round_trip_form() -> None:
    # recorded: the vendor's integration sends '2018-06-01T10:00:00.0000000Z' (reference §7)
    cest = timezone(timedelta(hours=2))
    assert quote(datetime(2018, 6, 1, 12, 0, tzinfo=cest)) == "'2018-06-01T10:00:00.0000000Z'"
    assert quote(datetime(2018, 6, 1, 10, 0, 0, 123456, tzinfo=UTC)) == (
        "'2018-06-01T10:00:00.1234560Z'"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        quote(datetime(2018, 6, 1, 10, 0))


def test_linked_data_fields_use_their_own_prefix() -> None:
    query = Query("LinkedData").where("LinkedDataItemEntityType", "=", 7)
    assert query.script == "SELECT * FROM LinkedData WHERE LinkedDataItemEntityType = 7"


def test_any_of_is_one_parenthesised_group_of_literals() -> None:
    query = (
        Query("Delivery")
        .where("DeliveryStatus", "=", "Open")
        .where_any("DeliveryId", (3, 5, "x') OR (1 = 1"))
    )
    assert query.script == (
        "SELECT * FROM Delivery WHERE DeliveryStatus = 'Open' "
        "AND (DeliveryId = 3 OR DeliveryId = 5 OR DeliveryId = 'x'') OR (1 = 1')"
    )
    with pytest.raises(ValueError):
        Query("Delivery").where_any("DeliveryId", ())
    with pytest.raises(ValueError):
        Query("Delivery").where_any("OrganisationId", (1,))
