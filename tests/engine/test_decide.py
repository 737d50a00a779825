"""Deciding as a function of what was read: each row a snapshot and the plan it must give.

Every row also checks that the snapshot's reads by id are exactly the records its decisions
need (:meth:`Snapshot.to_read`): the reader fetches nothing the plan does not use, and the plan
never needs what was not read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.engine.fakes import customer_spec
from webcrm_fortnox.engine.actions import Action, Create, Exclude
from webcrm_fortnox.engine.decide import decide
from webcrm_fortnox.engine.ports import (
    ConflictReport,
    EntitySpec,
    ErrorKind,
    ErrorState,
    Intent,
    IntentState,
    Link,
    MatchDecision,
    MatchVerdict,
    RecordError,
    SourceRecord,
    System,
)
from webcrm_fortnox.engine.snapshot import Mode, Snapshot, conflict_key

W: System = "webcrm"
F: System = "fortnox"
SPEC = customer_spec()
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
BEFORE = T0 - timedelta(minutes=1)
LATER = T0 + timedelta(hours=1)


def rec(
    record_id: str,
    *,
    at: datetime | None = None,
    eligible: bool = True,
    why: str | None = None,
    key: str | None = None,
    **fields: Any,
) -> SourceRecord:
    return SourceRecord(record_id, fields, at, eligible, why, key)


def pair(link_id: int, webcrm: str, fortnox: str, *, held: bool = False, **base: Any) -> Link:
    return Link(link_id, "customer", webcrm, fortnox, base, T0, held)


def error(system: System, record_id: str, kind: ErrorKind = ErrorKind.FAILURE) -> RecordError:
    reason = "same e-mail as Fortnox record(s) F1, F2: decide with `match`"
    return RecordError(
        1, "customer", system, record_id, "e-mail", None, None, reason, 1, T0, T0,
        ErrorState.OPEN, kind,
    )  # fmt: skip


def snap(
    *,
    mode: Mode = Mode.INCREMENTAL,
    full: bool = False,
    webcrm: Iterable[SourceRecord] = (),
    fortnox: Iterable[SourceRecord] = (),
    deleted: Mapping[System, Iterable[str]] | None = None,
    links: Sequence[Link] = (),
    fetched: Mapping[System, Mapping[str, SourceRecord | None]] | None = None,
    errors: Iterable[RecordError] = (),
    conflicts: Mapping[int, Iterable[ConflictReport]] | None = None,
    intents: Sequence[Intent] = (),
    decisions: Sequence[MatchDecision] = (),
) -> Snapshot:
    gone = deleted or {}
    return Snapshot(
        mode=mode,
        full=full,
        read={W: {r.id: r for r in webcrm}, F: {r.id: r for r in fortnox}},
        deleted={s: frozenset(gone.get(s, ())) for s in (W, F)},
        links=links,
        open_conflicts={
            link: frozenset(conflict_key(c) for c in reports)
            for link, reports in (conflicts or {}).items()
        },
        errors={(e.system, e.record_id): e for e in errors},
        intents=intents,
        decisions=decisions,
        fetched={W: {}, F: {}, **(fetched or {})},
    )


@dataclass(frozen=True)
class Want:
    """An expected action: its kind and ids, and whichever of the rest the row names."""

    kind: str
    ids: Mapping[System, str]
    shown: Mapping[str, Any]


def want(kind: str, w: str | None = None, f: str | None = None, **shown: Any) -> Want:
    ids = {s: i for s, i in ((W, w), (F, f)) if i is not None}
    return Want(kind, ids, shown)


def summary(action: Action) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "source": action.source,
        "changes": {f"{c.system}.{c.field}": c.new for c in action.changes},
        "conflicts": [
            (c.field, c.webcrm_value, c.fortnox_value, c.resolution) for c in action.conflicts
        ],
        "key": action.key,
        "reason": action.reason,
    }
    if isinstance(action, Create):
        shown["lookup_first"] = action.lookup_first
    if isinstance(action, Exclude):
        shown["clears_errors"] = action.clears_errors
    return shown


def check(actions: Sequence[Action], wanted: Sequence[Want]) -> None:
    got = [(a.kind.value, dict(a.ids)) for a in actions]
    assert got == [(w.kind, dict(w.ids)) for w in wanted]
    for action, expected in zip(actions, wanted, strict=True):
        shown = summary(action)
        for name, value in expected.shown.items():
            if name == "reason" and value is not None:
                assert value in (shown["reason"] or ""), (action, name)
            else:
                assert shown[name] == value, (action, name)


BASE = {"name": "Acme", "phone": "08-1"}
LINK = pair(1, "1", "F1", **BASE)
SKIPS_NUMBER = replace(SPEC, required_for_create={F: ("number",)})
SKIPS_PHONE = replace(SPEC, required_for_create={W: ("phone",)})
ONLY_TO_WEBCRM = replace(SPEC, create_in=frozenset({W}))
HELD_BY_FORTNOX = replace(SPEC, held_by=F)
#: as for documents: a record not listed may have changed, so it is never taken as its base
READS_PARTNERS = replace(SPEC, unlisted_partner_is_base=False)
INTENT = Intent(1, "customer", F, "1", "1", {"name": "Acme"}, IntentState.PENDING, T0)
DECIDED = MatchDecision("customer", "1", "F1", MatchVerdict.ACCEPTED, "decision", T0)
EMAIL_CONFLICT = ConflictReport("email", "b@x", "c@x", "a@x", SPEC.rules["email"].policy, None)

ROWS = [
    # --- creates, and why not --------------------------------------------------------------
    pytest.param(
        SPEC,
        snap(webcrm=[rec("1", name="Acme", phone=None)]),
        # a blank is not sent; the number only flows to webCRM
        [want("create", w="1", source=W, changes={"fortnox.name": "Acme"}, lookup_first=True)],
        id="create in Fortnox from webCRM, looking first (Fortnox was not read in full)",
    ),
    pytest.param(
        SPEC,
        snap(fortnox=[rec("F1", name="Beta", number="F1")]),
        [want("create", f="F1", source=F, changes={"webcrm.name": "Beta", "webcrm.number": "F1"})],
        id="create in webCRM from Fortnox",
    ),
    pytest.param(
        SPEC,
        snap(full=True, webcrm=[rec("1", name="Acme")]),
        [want("create", w="1", source=W, lookup_first=False)],
        id="after a full read a create needs no lookup",
    ),
    pytest.param(
        SPEC,
        snap(webcrm=[rec("5", name="Lead AB", eligible=False, why="its Type Lead is not synced")]),
        [want("exclude", w="5", source=W, reason="its Type Lead is not synced")],
        id="exclude an unlinked webCRM record that is not eligible",
    ),
    pytest.param(
        ONLY_TO_WEBCRM,
        snap(webcrm=[rec("1", name="Acme")], fortnox=[rec("F2", name="Beta")]),
        [
            want("exclude", w="1", source=W, reason="customer records are not created in Fortnox"),
            want("create", f="F2", source=F),
        ],
        id="exclude what is not created in that direction, create the other way",
    ),
    pytest.param(
        SKIPS_NUMBER,
        snap(webcrm=[rec("1", name="Acme", number=None)]),
        [
            want(
                "skip",
                w="1",
                source=W,
                key="number",
                reason="not created in Fortnox: number is empty in webCRM and is required",
            )
        ],
        id="skip a webCRM record lacking a field Fortnox requires",
    ),
    pytest.param(
        SKIPS_PHONE,
        snap(fortnox=[rec("F1", name="Beta", phone="")]),
        [want("skip", f="F1", source=F, key="phone", reason="phone is empty in Fortnox")],
        id="skip a Fortnox record lacking a field webCRM requires",
    ),
    # --- linked pairs: updates, the base, reads by id ----------------------------------------
    pytest.param(
        SPEC,
        snap(links=[LINK], webcrm=[rec("1", at=LATER, name="Acme", phone="08-2")]),
        [want("update", w="1", f="F1", changes={"fortnox.phone": "08-2"})],
        id="a webCRM edit updates Fortnox; the partner in step is its base, not read",
    ),
    pytest.param(
        SPEC,
        snap(links=[LINK], fortnox=[rec("F1", name="Acme", phone="08-3")]),
        [want("update", w="1", f="F1", changes={"webcrm.phone": "08-3"})],
        id="a Fortnox edit updates webCRM",
    ),
    pytest.param(
        SPEC,
        snap(
            links=[LINK],
            webcrm=[rec("1", at=LATER, name="Acme", phone="08-2")],
            errors=[error(F, "F1")],
            fetched={F: {"F1": rec("F1", name="Acme", phone="08-1")}},
        ),
        [want("update", w="1", f="F1", changes={"fortnox.phone": "08-2"})],
        id="a partner with an open error is read by id, not taken from the base",
    ),
    pytest.param(
        SPEC,
        snap(links=[LINK], webcrm=[rec("1", at=BEFORE, **BASE)]),
        [],
        id="a record re-read as it was last synced: nothing, and its partner is not read",
    ),
    pytest.param(
        READS_PARTNERS,
        snap(links=[LINK], webcrm=[rec("1", at=BEFORE, **BASE)]),
        [],
        id="a record re-read as it was last synced needs no partner, even where partners are read",
    ),
    pytest.param(
        READS_PARTNERS,
        snap(
            links=[LINK],
            webcrm=[rec("1", at=LATER, **BASE)],
            fetched={F: {"F1": rec("F1", name="Acme", phone="08-9")}},
        ),
        [want("update", w="1", f="F1", changes={"webcrm.phone": "08-9"})],
        id="a record stamped after the last sync is read with its partner, changed or not",
    ),
    pytest.param(
        SPEC,
        snap(
            links=[LINK],
            webcrm=[rec("1", at=LATER, name="Acme AB", phone=None)],
            fortnox=[rec("F1", name="Acme", phone="08-1")],
        ),
        [
            want(
                "update",
                w="1",
                f="F1",
                changes={"fortnox.name": "Acme AB"},
                reason="phone: a blank in webcrm does not overwrite the value in fortnox",
            )
        ],
        id="a blank in webCRM does not overwrite Fortnox's value",
    ),
    pytest.param(
        SPEC,
        snap(
            links=[LINK],
            webcrm=[rec("1", at=LATER, name="Acme", phone="08-1")],
            fortnox=[rec("F1", name="Acme Ltd", phone=None)],
        ),
        [
            want(
                "update",
                w="1",
                f="F1",
                changes={"webcrm.name": "Acme Ltd"},
                reason="phone: a blank in fortnox does not overwrite the value in webcrm",
            )
        ],
        id="a blank in Fortnox does not overwrite webCRM's value",
    ),
    # --- conflicts ------------------------------------------------------------------------------
    pytest.param(
        SPEC,
        snap(
            links=[pair(1, "1", "F1", name="Acme", email="a@x")],
            webcrm=[rec("1", at=LATER, name="Acme", email="b@x")],
            fortnox=[rec("F1", name="Acme", email="c@x")],
        ),
        [want("conflict", w="1", f="F1", changes={}, conflicts=[("email", "b@x", "c@x", None)])],
        id="both sides changed a manual field: an open conflict, nothing written",
    ),
    pytest.param(
        SPEC,
        snap(
            links=[pair(1, "1", "F1", name="Acme", email="a@x")],
            webcrm=[rec("1", at=LATER, name="Acme", email="b@x")],
            fortnox=[rec("F1", name="Acme", email="c@x")],
            conflicts={1: [EMAIL_CONFLICT]},
        ),
        [],
        id="a conflict already open is not planned again",
    ),
    pytest.param(
        SPEC,
        snap(
            links=[LINK],
            webcrm=[rec("1", at=LATER, name="Acme", phone="08-2")],
            fortnox=[rec("F1", name="Acme", phone="08-3")],
        ),
        [
            want(
                "update",
                w="1",
                f="F1",
                changes={"fortnox.phone": "08-2"},
                conflicts=[("phone", "08-2", "08-3", W)],
            )
        ],
        id="both sides changed a field whose policy says webCRM: webCRM's value wins",
    ),
    # --- held pairs ------------------------------------------------------------------------------
    pytest.param(
        SPEC,
        snap(links=[LINK], webcrm=[rec("1", at=LATER, eligible=False, why="Type Lead", **BASE)]),
        [want("exclude", w="1", f="F1", reason="Type Lead", clears_errors=False)],
        id="a linked webCRM record no longer eligible holds the pair",
    ),
    pytest.param(
        SPEC,
        snap(
            links=[LINK],
            webcrm=[rec("1", at=LATER, eligible=False, why="Type Lead", **BASE)],
            errors=[error(W, "1")],
            fetched={F: {"F1": rec("F1", **BASE)}},
        ),
        [want("exclude", w="1", f="F1", clears_errors=True)],
        id="holding a pair clears the errors of its record",
    ),
    pytest.param(
        SPEC,
        snap(links=[LINK], fortnox=[rec("F1", eligible=False, why="cancelled", name="Acme AB")]),
        [want("update", w="1", f="F1", changes={"webcrm.name": "Acme AB"})],
        id="a Fortnox record not eligible does not hold the pair: the spec binds it to webCRM",
    ),
    pytest.param(
        HELD_BY_FORTNOX,
        snap(links=[LINK], fortnox=[rec("F1", eligible=False, why="cancelled", name="Acme AB")]),
        [want("exclude", w="1", f="F1", reason="cancelled")],
        id="with the spec binding it to Fortnox, the same record holds the pair",
    ),
    # --- records gone -------------------------------------------------------------------------
    pytest.param(
        SPEC,
        snap(links=[LINK], deleted={W: ["1"]}),
        [
            want("unlink", w="1", f="F1", reason="the webCRM record is gone; the Fortnox one is"),
            want(
                "create", f="F1", source=F, changes={"webcrm.name": "Acme", "webcrm.phone": "08-1"}
            ),
        ],
        id="a webCRM record deleted: unlink, and the Fortnox one is created back",
    ),
    pytest.param(
        SPEC,
        snap(
            links=[LINK],
            webcrm=[rec("1", at=LATER, name="Acme", phone="08-2")],
            errors=[error(F, "F1")],
            fetched={F: {"F1": None}},
        ),
        [
            want("unlink", w="1", f="F1", reason="the Fortnox record is gone; the webCRM one is"),
            want("create", w="1", source=W, lookup_first=True),
        ],
        id="a Fortnox partner read by id and found gone: unlink, and create it again",
    ),
    pytest.param(
        SPEC,
        snap(links=[LINK], deleted={W: ["1"], F: ["F1"]}),
        [want("unlink", w="1", f="F1", reason="both records are gone")],
        id="both records deleted: unlink only",
    ),
    # --- pairing unlinked records ---------------------------------------------------------------
    pytest.param(
        SPEC,
        snap(
            webcrm=[rec("1", name="Acme", city="Lund", number=None)],
            fortnox=[rec("F1", name="Acme", city="Lund", number="F1")],
        ),
        [want("link", w="1", f="F1", key="name and city", changes={"webcrm.number": "F1"})],
        id="link two records that match by a key, writing what differs",
    ),
    pytest.param(
        SPEC,
        snap(webcrm=[rec("1", name="Acme")], fortnox=[rec("F1", key="1", name="Acme")]),
        [want("link", w="1", f="F1", key="idempotency key", changes={})],
        id="link a Fortnox record made from a webCRM one by its key",
    ),
    pytest.param(
        SPEC,
        snap(
            webcrm=[rec("7", key="F9", name="Gamma")], fetched={F: {"F9": rec("F9", name="Gamma")}}
        ),
        [want("link", w="7", f="F9", key="idempotency key")],
        id="the record a webCRM one was made from is read by id and linked",
    ),
    pytest.param(
        SPEC,
        snap(links=[LINK], fortnox=[rec("F2", key="1", name="Acme")]),
        [want("review", f="F2", source=F, key="idempotency key", reason="linked to F1")],
        id="a copy made from a record that is already linked is held for review",
    ),
    pytest.param(
        SPEC,
        snap(
            webcrm=[rec("1", email="a@x")],
            fortnox=[rec("F1", email="a@x"), rec("F2", email="a@x")],
        ),
        [
            want("review", w="1", source=W, reason="same e-mail as Fortnox record(s) F1, F2"),
            want("review", f="F1", source=F, reason="same e-mail as webCRM record(s) 1"),
            want("review", f="F2", source=F, reason="same e-mail as webCRM record(s) 1"),
        ],
        id="an ambiguous match is held for review on both sides",
    ),
    pytest.param(
        SPEC,
        snap(webcrm=[rec("1", email="a@x")], errors=[error(W, "1", ErrorKind.AMBIGUOUS)]),
        [want("review", w="1", source=W, key="e-mail", reason="same e-mail as Fortnox record(s)")],
        id="a record found ambiguous before stays under review in a partial read",
    ),
    pytest.param(
        SPEC,
        snap(
            webcrm=[rec("1", name="Acme")],
            decisions=[DECIDED],
            fetched={F: {"F1": rec("F1", name="Acme AB")}},
        ),
        [want("link", w="1", f="F1", key="decision")],
        id="the partner a person paired a webCRM record with is read by id and linked",
    ),
    # --- creates without a known outcome --------------------------------------------------------
    pytest.param(
        SPEC,
        snap(
            fortnox=[rec("F3", key="1", name="Acme")],
            intents=[INTENT],
            fetched={W: {"1": rec("1", name="Acme")}},
        ),
        # the record it may have made is settled by the same lookup, not linked on its own
        [want("resolve", w="1", source=W)],
        id="a create with no known outcome is looked up first",
    ),
]


@pytest.mark.parametrize(("spec", "snapshot", "wanted"), ROWS)
def test_decide(spec: EntitySpec, snapshot: Snapshot, wanted: list[Want]) -> None:
    assert set(snapshot.to_read(spec)) == {
        (system, record_id) for system, records in snapshot.fetched.items() for record_id in records
    }
    plan = decide(snapshot, spec)
    check(plan.actions, wanted)


def test_a_record_a_decision_needs_but_the_snapshot_lacks_is_named() -> None:
    snapshot = snap(
        links=[LINK],
        webcrm=[rec("1", at=LATER, name="Acme", phone="08-2")],
        errors=[error(F, "F1")],
    )
    with pytest.raises(LookupError, match="fortnox record F1 was not read before deciding"):
        decide(snapshot, SPEC)


def test_the_plan_carries_the_cursors_read() -> None:
    snapshot = replace(snap(), cursors={W: "w-cursor", F: "f-cursor"})
    assert decide(snapshot, SPEC).cursors == {W: "w-cursor", F: "f-cursor"}
