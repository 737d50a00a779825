"""Pairing existing records before the first sync."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from webcrm_fortnox.engine.matching import match_records
from webcrm_fortnox.engine.ports import MatchDecision, MatchKey, MatchVerdict, SourceRecord

KEYS = (
    MatchKey("customer number", ("number",)),
    MatchKey("organisation number", ("org",)),
    MatchKey("name and postcode", ("name", "postcode")),
)
WHEN = datetime(2026, 3, 1, tzinfo=UTC)


def rec(record_id: str, **fields: Any) -> SourceRecord:
    return SourceRecord(record_id, fields)


def ids(records: Any) -> list[str]:
    return [r.id for r in records]


def decision(w: str, f: str, verdict: MatchVerdict) -> MatchDecision:
    return MatchDecision("customer", w, f, verdict, "manual", WHEN)


def test_keys_are_tried_in_order_and_a_record_pairs_once() -> None:
    webcrm = [rec("w1", number="7", org="A"), rec("w2", org="B"), rec("w3", name="X", postcode="1")]
    fortnox = [
        rec("f1", number="7", org="B"),
        rec("f2", org="B"),
        rec("f3", name="X", postcode="1"),
    ]

    result = match_records(KEYS, webcrm, fortnox)

    assert [(p.webcrm.id, p.fortnox.id, p.key) for p in result.pairs] == [
        ("w1", "f1", "customer number"),
        ("w2", "f2", "organisation number"),
        ("w3", "f3", "name and postcode"),
    ]
    assert result.ambiguous == [] and result.webcrm_only == [] and result.fortnox_only == []


def test_a_value_shared_by_several_records_is_ambiguous_and_not_retried_by_weaker_keys() -> None:
    webcrm = [rec("w1", org="A", name="X", postcode="1")]
    fortnox = [rec("f1", org="A", name="X", postcode="1"), rec("f2", org="A")]

    result = match_records(KEYS, webcrm, fortnox)

    assert result.pairs == []
    (ambiguity,) = result.ambiguous
    assert (ambiguity.key, ambiguity.value) == ("organisation number", ("A",))
    assert ids(ambiguity.webcrm) == ["w1"] and ids(ambiguity.fortnox) == ["f1", "f2"]


def test_records_without_a_key_value_are_one_sided() -> None:
    result = match_records(KEYS, [rec("w1", name="X")], [rec("f1", name="X", postcode="")])

    assert ids(result.webcrm_only) == ["w1"] and ids(result.fortnox_only) == ["f1"]


def test_an_accepted_decision_pairs_whatever_the_keys_say() -> None:
    decisions = [decision("w1", "f2", MatchVerdict.ACCEPTED)]

    result = match_records(KEYS, [rec("w1", org="A")], [rec("f1", org="A"), rec("f2")], decisions)

    assert [(p.webcrm.id, p.fortnox.id, p.key) for p in result.pairs] == [("w1", "f2", "decision")]
    assert ids(result.fortnox_only) == ["f1"]


def test_a_rejected_pair_is_never_paired_by_a_key() -> None:
    decisions = [decision("w1", "f1", MatchVerdict.REJECTED)]

    result = match_records(KEYS, [rec("w1", org="A")], [rec("f1", org="A")], decisions)

    assert result.pairs == []
    assert ids(result.webcrm_only) == ["w1"] and ids(result.fortnox_only) == ["f1"]


def test_rejecting_one_candidate_of_two_leaves_a_unique_pair() -> None:
    decisions = [decision("w1", "f1", MatchVerdict.REJECTED)]

    result = match_records(
        KEYS, [rec("w1", org="A")], [rec("f1", org="A"), rec("f2", org="A")], decisions
    )

    assert [(p.webcrm.id, p.fortnox.id) for p in result.pairs] == [("w1", "f2")]
    assert ids(result.fortnox_only) == ["f1"]
