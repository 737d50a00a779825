"""The three-way merge of one pair, field by field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from webcrm_fortnox.engine.merge import merge
from webcrm_fortnox.engine.ports import Direction, FieldRule, Policy, SourceRecord

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def rec(stamp: datetime | None = None, **fields: Any) -> SourceRecord:
    return SourceRecord("r", fields, modified_at=stamp)


def rules(**kw: Any) -> dict[str, FieldRule]:
    return {"f": FieldRule(**kw)}


def writes(result: Any) -> dict[str, dict[str, Any]]:
    return {s: {k: c.new for k, c in w.items()} for s, w in result.writes.items() if w}


def test_equal_to_base_on_both_sides_is_nothing() -> None:
    result = merge(rules(), {"f": "a"}, rec(f="a"), rec(f="a"))

    assert writes(result) == {} and result.conflicts == [] and result.base == {"f": "a"}


@pytest.mark.parametrize(
    ("w", "f", "expected"),
    [("new", "a", {"fortnox": {"f": "new"}}), ("a", "new", {"webcrm": {"f": "new"}})],
)
def test_a_change_on_one_side_propagates(w: str, f: str, expected: dict[str, Any]) -> None:
    result = merge(rules(), {"f": "a"}, rec(f=w), rec(f=f))

    assert writes(result) == expected
    assert result.base == {"f": "new"} and result.conflicts == []


def test_the_same_change_on_both_sides_only_moves_the_base() -> None:
    result = merge(rules(), {"f": "a"}, rec(f="b"), rec(f="b"))

    assert writes(result) == {} and result.base == {"f": "b"} and result.conflicts == []


@pytest.mark.parametrize(
    ("policy", "winner", "value"),
    [(Policy.WEBCRM, "webcrm", "w"), (Policy.FORTNOX, "fortnox", "f")],
)
def test_a_two_sided_change_goes_to_the_policy_and_is_recorded(
    policy: Policy, winner: str, value: str
) -> None:
    result = merge(rules(policy=policy), {"f": "a"}, rec(f="w"), rec(f="f"))

    loser = "fortnox" if winner == "webcrm" else "webcrm"
    assert writes(result) == {loser: {"f": value}}
    assert result.base == {"f": value}
    (conflict,) = result.conflicts
    assert (conflict.webcrm_value, conflict.fortnox_value, conflict.base_value) == ("w", "f", "a")
    assert (conflict.policy, conflict.resolution) == (policy, winner)


@pytest.mark.parametrize(
    ("w_stamp", "f_stamp", "winner"),
    [(T1, T0, "webcrm"), (T0, T1, "fortnox"), (T0, None, "webcrm"), (None, None, "fortnox")],
)
def test_newest_picks_the_later_timestamp(
    w_stamp: datetime | None, f_stamp: datetime | None, winner: str
) -> None:
    result = merge(
        rules(policy=Policy.NEWEST), {"f": "a"}, rec(w_stamp, f="w"), rec(f_stamp, f="f")
    )

    assert result.conflicts[0].resolution == winner
    assert result.base == {"f": "w" if winner == "webcrm" else "f"}


def test_manual_writes_nothing_keeps_the_base_and_leaves_the_conflict_open() -> None:
    result = merge(rules(policy=Policy.MANUAL), {"f": "a"}, rec(f="w"), rec(f="f"))

    assert writes(result) == {}
    assert result.base == {"f": "a"}
    assert result.conflicts[0].resolution is None
    assert "manual" in result.held["f"]


def test_a_blank_does_not_overwrite_a_value_by_default() -> None:
    result = merge(rules(), {"f": "a"}, rec(f=None), rec(f="a"))

    assert writes(result) == {}
    assert result.base == {"f": "a"}  # so a later run still sees the blank as a change
    assert "blank" in result.held["f"]


def test_a_blank_overwrites_when_configured() -> None:
    result = merge(rules(blank_overwrites=True), {"f": "a"}, rec(f="a"), rec(f=""))

    assert writes(result) == {"webcrm": {"f": ""}}


def test_in_a_two_sided_change_a_value_beats_a_blank_whatever_the_policy() -> None:
    result = merge(rules(policy=Policy.WEBCRM), {"f": "a"}, rec(f=None), rec(f="f"))

    assert writes(result) == {"webcrm": {"f": "f"}}
    assert result.conflicts[0].resolution == "fortnox"


def test_a_new_pair_fills_gaps_without_conflicts_and_records_real_differences() -> None:
    both = {"f": FieldRule(), "g": FieldRule(policy=Policy.WEBCRM)}

    result = merge(both, None, rec(f=None, g="w"), rec(f="x", g="f"))

    assert writes(result) == {"webcrm": {"f": "x"}, "fortnox": {"g": "w"}}
    assert [c.field for c in result.conflicts] == ["g"]
    assert result.conflicts[0].base_value is None


@pytest.mark.parametrize(
    ("direction", "target", "value"),
    [(Direction.TO_FORTNOX, "fortnox", "w"), (Direction.TO_WEBCRM, "webcrm", "f")],
)
def test_a_one_way_field_follows_its_source_even_when_only_the_target_changed(
    direction: Direction, target: str, value: str
) -> None:
    source_value = {"fortnox": "w", "webcrm": "f"}[target]
    w, f = ("w", "drift") if target == "fortnox" else ("drift", "f")

    result = merge(rules(direction=direction), {"f": source_value}, rec(f=w), rec(f=f))

    assert writes(result) == {target: {"f": value}}
    assert result.conflicts == []


def test_a_field_one_side_cannot_hold_does_not_sync() -> None:
    result = merge(rules(), {}, rec(f="a"), rec())

    assert writes(result) == {} and result.base == {}


def test_only_fields_with_rules_are_compared() -> None:
    result = merge(rules(), {"f": "a"}, rec(f="a", other=1), rec(f="a", other=2))

    assert writes(result) == {} and result.base == {"f": "a"}
