"""Pairing records that already exist on both sides, before they are first synced.

Keys are tried in order (e.g. customer number, organisation number, VAT number, normalised name
and postcode). For each key, a key value held by exactly one webCRM and exactly one Fortnox record
pairs them; a value held by more records on either side makes all of them *ambiguous*: they are
set aside for a person to decide and not tried with later keys, because a weaker key must not
override the doubt a stronger one raised.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from webcrm_fortnox.engine.ports import MatchDecision, MatchKey, MatchVerdict, SourceRecord, Value


@dataclass(frozen=True)
class Pair:
    """A webCRM record and a Fortnox record found to be the same, and by which key."""

    webcrm: SourceRecord
    fortnox: SourceRecord
    key: str


@dataclass(frozen=True)
class Ambiguity:
    """Records that share a key value with more than one record on the other side."""

    key: str
    value: tuple[Value, ...]
    webcrm: tuple[SourceRecord, ...]
    fortnox: tuple[SourceRecord, ...]


@dataclass
class MatchResult:
    """Pairs, ambiguous candidates and the records found on one side only."""

    pairs: list[Pair] = field(default_factory=list)
    ambiguous: list[Ambiguity] = field(default_factory=list)
    webcrm_only: list[SourceRecord] = field(default_factory=list)
    fortnox_only: list[SourceRecord] = field(default_factory=list)


def match_records(
    keys: Sequence[MatchKey],
    webcrm: Iterable[SourceRecord],
    fortnox: Iterable[SourceRecord],
    decisions: Sequence[MatchDecision] = (),
) -> MatchResult:
    """Pair ``webcrm`` and ``fortnox`` records.

    Recorded decisions come first: an accepted pair is paired (key ``"decision"``) whatever the
    keys say, and a rejected pair is never paired by a key.

    Args:
        keys: the match keys, strongest first.
        webcrm: unlinked webCRM records.
        fortnox: unlinked Fortnox records.
        decisions: earlier decisions of a person (or of ``match --yes``).

    Returns:
        Every input record ends up in exactly one of: a pair, an ambiguity, one side only.
    """
    left = {r.id: r for r in webcrm}
    right = {r.id: r for r in fortnox}
    result = MatchResult()
    rejected = {
        (d.webcrm_id, d.fortnox_id) for d in decisions if d.verdict is MatchVerdict.REJECTED
    }
    for decision in decisions:
        if decision.verdict is MatchVerdict.ACCEPTED and (
            decision.webcrm_id in left and decision.fortnox_id in right
        ):
            result.pairs.append(
                Pair(left.pop(decision.webcrm_id), right.pop(decision.fortnox_id), "decision")
            )
    for key in keys:
        by_value_w = _group(key, left.values())
        by_value_f = _group(key, right.values())
        for value, ws in by_value_w.items():
            fs = by_value_f.get(value)
            if not fs:
                continue
            # Candidates a person already turned down for every partner drop out.
            cand_w = tuple(w for w in ws if any((w.id, f.id) not in rejected for f in fs))
            cand_f = tuple(f for f in fs if any((w.id, f.id) not in rejected for w in ws))
            if not cand_w or not cand_f:
                continue
            if len(cand_w) == 1 and len(cand_f) == 1:
                pair = Pair(left.pop(cand_w[0].id), right.pop(cand_f[0].id), key.name)
                result.pairs.append(pair)
                continue
            result.ambiguous.append(Ambiguity(key.name, value, cand_w, cand_f))
            for record in cand_w:
                left.pop(record.id)
            for record in cand_f:
                right.pop(record.id)
    result.webcrm_only = list(left.values())
    result.fortnox_only = list(right.values())
    return result


def _group(
    key: MatchKey, records: Iterable[SourceRecord]
) -> Mapping[tuple[Value, ...], list[SourceRecord]]:
    groups: dict[tuple[Value, ...], list[SourceRecord]] = defaultdict(list)
    for record in records:
        value = key.value(record)
        if value is not None:
            groups[value].append(record)
    return groups
