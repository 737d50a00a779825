"""Three-way merge of one linked pair, field by field, against the base both sides agreed on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webcrm_fortnox.engine.ports import (
    ConflictReport,
    Direction,
    FieldRule,
    Policy,
    SourceRecord,
    System,
    Value,
    other_system,
)

_ABSENT: Any = object()


@dataclass(frozen=True)
class FieldChange:
    """One field to write on one system: ``field`` goes from ``old`` to ``new`` on ``system``."""

    system: System
    field: str
    old: Value
    new: Value


@dataclass
class Merge:
    """What merging a pair decided.

    Attributes:
        writes: the changes to send, per target system.
        base: the base to store once every write has succeeded.
        conflicts: fields both sides changed differently (settled by policy or left open).
        held: fields left as they differ on purpose (a blank that may not overwrite, an open
            manual conflict): field → plain-English reason.
    """

    writes: dict[System, dict[str, FieldChange]] = field(
        default_factory=lambda: {"webcrm": {}, "fortnox": {}}
    )
    base: dict[str, Value] = field(default_factory=dict)
    conflicts: list[ConflictReport] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)

    @property
    def has_writes(self) -> bool:
        return any(self.writes.values())


def _blank(value: Value) -> bool:
    return value is None or value == ""


def _newest(webcrm: SourceRecord, fortnox: SourceRecord) -> System:
    # A side without a timestamp counts as older; with neither, the books (Fortnox) win.
    if webcrm.modified_at is not None and (
        fortnox.modified_at is None or webcrm.modified_at > fortnox.modified_at
    ):
        return "webcrm"
    return "fortnox"


def _winner(rule: FieldRule, webcrm: SourceRecord, fortnox: SourceRecord) -> System | None:
    if rule.direction is Direction.TO_FORTNOX:
        return "webcrm"
    if rule.direction is Direction.TO_WEBCRM:
        return "fortnox"
    if rule.policy is Policy.WEBCRM:
        return "webcrm"
    if rule.policy is Policy.FORTNOX:
        return "fortnox"
    if rule.policy is Policy.NEWEST:
        return _newest(webcrm, fortnox)
    return None


def merge(
    rules: Mapping[str, FieldRule],
    base: Mapping[str, Any] | None,
    webcrm: SourceRecord,
    fortnox: SourceRecord,
) -> Merge:
    """Decide, field by field, what to write where so both sides agree again.

    For each field with a rule that both records carry:

    * equal on both sides: nothing to write; that value becomes the base;
    * changed on one side only (the other still equals the base): the change propagates, unless
      the direction forbids writing there or the change is a blank that may not overwrite a value;
    * changed on both sides to different values (or no base yet, as for a freshly matched pair):
      a conflict; a blank loses to a value unless blanks may overwrite; otherwise the direction,
      then the policy picks the winner, and ``manual`` leaves both sides as they are.

    One-way fields follow their source whenever the two differ (the source is the system of
    record for them), so drift on the target is repaired.

    Args:
        rules: canonical field → how it syncs.
        base: the stored base snapshot, or ``None`` for a pair never synced.
        webcrm: the webCRM record.
        fortnox: the Fortnox record.
    """
    result = Merge()
    records: dict[System, SourceRecord] = {"webcrm": webcrm, "fortnox": fortnox}
    for name, rule in rules.items():
        if name not in webcrm.fields or name not in fortnox.fields:
            continue  # a field one side cannot hold does not sync
        w, f = webcrm.fields[name], fortnox.fields[name]
        b = _ABSENT if base is None else base.get(name, _ABSENT)
        if w == f:
            result.base[name] = w
            continue
        if rule.direction is not Direction.BOTH:
            source: System = "webcrm" if rule.direction is Direction.TO_FORTNOX else "fortnox"
            _propagate(result, name, rule, source, records, b)
            continue
        if b is not _ABSENT and w == b:
            _propagate(result, name, rule, "fortnox", records, b)
        elif b is not _ABSENT and f == b:
            _propagate(result, name, rule, "webcrm", records, b)
        else:
            _conflict(result, name, rule, records, b)
    return result


def _propagate(
    result: Merge,
    name: str,
    rule: FieldRule,
    source: System,
    records: Mapping[System, SourceRecord],
    base: Any,
) -> None:
    target = other_system(source)
    new, old = records[source].fields[name], records[target].fields[name]
    if _blank(new) and not rule.blank_overwrites:
        # Keep the old base so the blank is not mistaken for agreement later.
        if base is not _ABSENT:
            result.base[name] = base
        result.held[name] = f"a blank in {source} does not overwrite the value in {target}"
        return
    result.writes[target][name] = FieldChange(target, name, old, new)
    result.base[name] = new


def _conflict(
    result: Merge,
    name: str,
    rule: FieldRule,
    records: Mapping[System, SourceRecord],
    base: Any,
) -> None:
    w, f = records["webcrm"].fields[name], records["fortnox"].fields[name]
    if base is _ABSENT and (_blank(w) or _blank(f)):
        # A pair never synced, one side empty: filling the gap is no conflict.
        _propagate(result, name, rule, "fortnox" if _blank(w) else "webcrm", records, base)
        return
    winner: System | None
    if not rule.blank_overwrites and (_blank(w) or _blank(f)):
        winner = "fortnox" if _blank(w) else "webcrm"
    else:
        winner = _winner(rule, records["webcrm"], records["fortnox"])
    base_value = None if base is _ABSENT else base
    result.conflicts.append(ConflictReport(name, w, f, base_value, rule.policy, winner))
    if winner is None:
        if base is not _ABSENT:
            result.base[name] = base
        result.held[name] = "changed on both sides; waiting for a manual decision"
        return
    target = other_system(winner)
    new = records[winner].fields[name]
    result.writes[target][name] = FieldChange(target, name, records[target].fields[name], new)
    result.base[name] = new
