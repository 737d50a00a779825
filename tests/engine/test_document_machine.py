"""The sync state machine extended to documents: deliveries with lines, and booking.

The fakes of ``test_sync_machine`` play a webCRM-like and a Fortnox-like system holding
documents: a customer, Fortnox's number, an order date, the lines (the real canonical value of
:mod:`webcrm_fortnox.domain.line`) and the booked flag. The sync makes orders of deliveries (the
default target); people make orders and invoices in Fortnox, edit header and lines on both
sides and book invoices, an order's included; the Fortnox fake refuses writes to a booked
document with the adapters' own guard, and fails the test if one gets through.

Checked after every sync: no change a person made is lost unless a conflict recording it was
stored (or it waits in a stored error), a booked document never changes in Fortnox, and every
change made in webCRM to a booked document is reported as locked and stays in webCRM. After a
quiet sync: a sync right after writes nothing, unbooked pairs agree, nothing was created twice.

:class:`CrashingDocumentMachine` adds the crash and fault rules of
:mod:`tests.engine.fault_rules`; a booked document stays untouched and webCRM's changes to one
stay in webCRM even when a run is killed half-way or fails.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from tests.engine.fakes import FakeSystem, Systems
from tests.engine.fault_rules import (
    DyingSystem,
    FaultRules,
    Fuse,
    ProcessDied,
    run_machine,
    unsettled,
)
from tests.engine.test_sync_machine import SETTLED, _examples
from webcrm_fortnox.domain.document import Kind
from webcrm_fortnox.domain.line import Line, encode_lines
from webcrm_fortnox.engine.adapters.documents import refuse_locked
from webcrm_fortnox.engine.apply import RecordStatus
from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.engine.ports import (
    Direction,
    EntitySpec,
    ErrorKind,
    FieldRule,
    Fields,
    Policy,
    SourceRecord,
    System,
)
from webcrm_fortnox.engine.sync import RunResult, RunStatus, sync_entity
from webcrm_fortnox.store import StateDatabase, TenantState

#: fields people edit on both sides
EDITABLE = ("customer", "order_date", "lines")

ENTITY = "document"
FIELDS = ("customer", "number", "order_date", "lines", "invoice_booked")
SPEC = EntitySpec(
    entity=ENTITY,
    rules={
        "customer": FieldRule(Direction.BOTH, Policy.FORTNOX),
        "number": FieldRule(Direction.TO_WEBCRM, Policy.FORTNOX),
        "order_date": FieldRule(Direction.BOTH, Policy.FORTNOX),
        "lines": FieldRule(Direction.BOTH, Policy.FORTNOX),
        "invoice_booked": FieldRule(Direction.TO_WEBCRM, Policy.FORTNOX, blank_overwrites=True),
    },
    required_for_create={"fortnox": ("customer",), "webcrm": ("customer",)},
)
LINE = st.builds(
    Line.of,
    article=st.sampled_from([None, "101", "102"]),
    description=st.sampled_from(["Hammer", "Consulting", ""]),
    quantity=st.sampled_from([1, 2, "1.5"]),
    price=st.sampled_from([10, "99.5", 0]),
    discount=st.sampled_from([0, 5]),
    vat=st.sampled_from([25, 12]),
)
LINES = st.lists(LINE, max_size=3).map(encode_lines)
HEADER_VALUES = {
    "customer": ["1", "2", "3", None],
    "order_date": ["2026-03-01", "2026-03-02", "2026-03-03", None],
}
HEADER = {name: st.sampled_from(values) for name, values in HEADER_VALUES.items()}
#: what a document made in Fortnox is (the sync itself makes orders, the default target)
KINDS = st.sampled_from(["order", "invoice"])
_tenants = itertools.count()


class FortnoxDocuments(FakeSystem):
    """Fortnox-like orders and invoices: writes to a booked one are refused by the adapters'
    guard. The sync makes orders of deliveries (the default target); people make either in
    Fortnox. Booking an order books the invoice made of it: the order carries the booked flag."""

    def __init__(self) -> None:
        super().__init__("fortnox", ENTITY, timestamps=False, assigns_number=True, fields=FIELDS)
        self.locked_writes = 0
        #: document id → what it is, as the adapter's ``order:12`` / ``invoice:12`` ids say
        self.kinds: dict[str, Kind] = {}

    def add(
        self,
        *,
        type: str | None = "Customer",
        key: str | None = None,
        kind: Kind = "invoice",
        **fields: Any,
    ) -> str:
        record_id = super().add(type=type, key=key, invoice_booked=False, **fields)
        self.kinds[record_id] = kind
        return record_id

    async def create(self, fields: Fields, idempotency_key: str) -> SourceRecord:
        before = set(self.rows)
        try:
            return await super().create({**fields, "invoice_booked": False}, idempotency_key)
        finally:  # a create whose answer was lost made its order all the same
            for record_id in set(self.rows) - before:
                self.kinds[record_id] = "order"

    async def update(self, id: str, changes: Fields, current: SourceRecord) -> SourceRecord:
        refuse_locked(self.kinds[id], id, current)
        row = self.rows.get(id)
        if row is not None and row.fields.get("invoice_booked"):
            self.locked_writes += 1  # the guard let a write to a booked document through
        return await super().update(id, changes, current)


class DocumentMachine(RuleBasedStateMachine):
    db: StateDatabase
    loop: asyncio.AbstractEventLoop

    def __init__(self) -> None:
        super().__init__()
        self.systems = Systems(
            webcrm=FakeSystem(
                "webcrm",
                ENTITY,
                timestamps=True,
                sync_types=frozenset({"Customer"}),
                new_type="Customer",
                fields=FIELDS,
            ),
            fortnox=FortnoxDocuments(),
        )
        self.state: TenantState = self.db.tenant(f"docs-{next(_tenants)}-{uuid.uuid4().hex}")
        #: Fortnox documents as they were when booked
        self.booked: dict[str, dict[str, Any]] = {}
        #: webCRM edits to documents linked to a booked one: (delivery, field) → value
        self.kept: dict[tuple[str, str], Any] = {}
        #: (system, record id, field) → (the value a person last wrote, when), not yet checked
        self.edits: dict[tuple[System, str, str], tuple[Any, int]] = {}
        self.steps = itertools.count()

    @property
    def webcrm(self) -> FakeSystem:
        return self.systems.webcrm

    @property
    def fortnox(self) -> FortnoxDocuments:
        assert isinstance(self.systems.fortnox, FortnoxDocuments)
        return self.systems.fortnox

    def _links(self) -> list[Any]:
        return self.loop.run_until_complete(self.state.links(ENTITY))

    def _partner_booked(self, delivery: str) -> bool:
        for link in self._links():
            if link.webcrm_id == delivery:
                return link.fortnox_id in self.booked
        return False

    # --- what people do ---------------------------------------------------------------------

    @initialize(data=st.data())
    def linked_pairs(self, data: st.DataObject) -> None:
        # Start from a document made on each side and synced, so that the rules acting on
        # linked pairs (booking, edits on both sides) have something to act on from step one.
        for system in ("webcrm", "fortnox"):
            fields = {"customer": "1", "order_date": data.draw(HEADER["order_date"])}
            if system == "fortnox":
                fields["kind"] = data.draw(KINDS, label="kind")
            record_id = self.systems.sources[system].add(lines=data.draw(LINES), **fields)
            for name, value in self.systems.sources[system].fields_of(record_id).items():
                if name in EDITABLE:
                    self._edited(system, record_id, name, value)
        self._sync()

    @rule(system=st.sampled_from(["webcrm", "fortnox"]), data=st.data())
    def add(self, system: System, data: st.DataObject) -> None:
        fields = {name: data.draw(values, label=name) for name, values in HEADER.items()}
        fields["lines"] = data.draw(LINES, label="lines")
        if system == "webcrm":
            kw: dict[str, Any] = {"type": data.draw(st.sampled_from(["Customer", None]))}
        else:
            kw = {"kind": data.draw(KINDS, label="kind")}
        record_id = self.systems.sources[system].add(**kw, **fields)
        for name, value in fields.items():
            self._edited(system, record_id, name, value)

    def _edit(self, system: System, record_id: str, name: str, value: Any) -> bool:
        """A person writes ``value``. Writing the value already there is no change to track;
        writing back the value last synced undoes this side's change since (the sync compares
        with what it last synced, as it must: Fortnox keeps no history of a field).

        Returns whether the record now holds a change the sync can see (a value other than
        the one last synced)."""
        source = self.systems.sources[system]
        unchanged = source.fields_of(record_id)[name] == value
        source.edit(record_id, **{name: value})
        base = next((link.base for link in self._links() if link.id_on(system) == record_id), {})
        if name in base and base[name] == value:
            self.edits.pop((system, record_id, name), None)
            return False
        if not unchanged:
            self._edited(system, record_id, name, value)
        return True

    def _edited(self, system: System, record_id: str, name: str, value: Any) -> None:
        self.edits[system, record_id, name] = (value, next(self.steps))

    @precondition(lambda self: self.webcrm.rows)
    @rule(data=st.data(), name=st.sampled_from(["customer", "order_date", "lines"]))
    def edit_delivery(self, data: st.DataObject, name: str) -> None:
        delivery = data.draw(st.sampled_from(sorted(self.webcrm.rows)))
        value = data.draw(LINES if name == "lines" else HEADER[name])
        changed = self._edit("webcrm", delivery, name, value)
        self._remember_kept(
            delivery, name, value, booked=changed and self._partner_booked(delivery)
        )

    @precondition(lambda self: self.booked)
    @rule(data=st.data(), name=st.sampled_from(["customer", "order_date", "lines"]))
    def edit_delivery_of_booked(self, data: st.DataObject, name: str) -> None:
        # The case the guard exists for, drawn on purpose rather than left to chance.
        deliveries = sorted(
            link.webcrm_id
            for link in self._links()
            if link.fortnox_id in self.booked and link.webcrm_id in self.webcrm.rows
        )
        if deliveries:
            delivery = data.draw(st.sampled_from(deliveries))
            value = data.draw(LINES if name == "lines" else HEADER[name])
            changed = self._edit("webcrm", delivery, name, value)
            self._remember_kept(delivery, name, value, booked=changed)

    def _remember_kept(self, delivery: str, name: str, value: Any, *, booked: bool) -> None:
        """The webCRM value a booked partner must leave in place. A later edit of the same field
        replaces the expectation; blanks are not tracked (a blank never overwrites a value), nor
        is the value last synced (no change the sync can see: the booked value may replace it)."""
        self.kept.pop((delivery, name), None)
        if booked and value not in (None, ""):
            self.kept[delivery, name] = value

    @precondition(lambda self: set(self.fortnox.rows) - set(self.booked))
    @rule(data=st.data(), name=st.sampled_from(["customer", "order_date", "lines"]))
    def edit_document(self, data: st.DataObject, name: str) -> None:
        unbooked = sorted(set(self.fortnox.rows) - set(self.booked))
        number = data.draw(st.sampled_from(unbooked))
        self._edit("fortnox", number, name, data.draw(LINES if name == "lines" else HEADER[name]))

    @precondition(lambda self: set(self.fortnox.rows) - set(self.booked))
    @rule(data=st.data(), name=st.sampled_from(EDITABLE), fortnox_first=st.booleans())
    def edit_both_sides(self, data: st.DataObject, name: str, fortnox_first: bool) -> None:
        # Both sides change one field of a pair before the next sync: a conflict, drawn on
        # purpose (the one the no-lost-update check needs a recorded conflict for).
        pairs = sorted(
            (link.webcrm_id, link.fortnox_id)
            for link in self._links()
            if link.fortnox_id not in self.booked
            and link.webcrm_id in self.webcrm.rows
            and link.fortnox_id in self.fortnox.rows
        )
        if not pairs:
            return
        delivery, number = data.draw(st.sampled_from(pairs))
        edits: list[tuple[System, str]] = [("fortnox", number), ("webcrm", delivery)]
        # Two different values, neither blank nor what either side holds: a real conflict.
        taken = {None, self.webcrm.fields_of(delivery)[name], self.fortnox.fields_of(number)[name]}
        if name != "lines" and len(set(HEADER_VALUES[name]) - taken) < 2:
            return
        for system, record_id in edits if fortnox_first else edits[::-1]:
            if name == "lines":
                value = data.draw(LINES.filter(lambda v: v not in taken))
            else:
                value = data.draw(
                    st.sampled_from([v for v in HEADER_VALUES[name] if v not in taken])
                )
            self._edit(system, record_id, name, value)
            taken.add(value)

    @precondition(lambda self: set(self.fortnox.rows) - set(self.booked))
    @rule(data=st.data())
    def book(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(sorted(set(self.fortnox.rows) - set(self.booked))))
        self.fortnox.edit(number, invoice_booked=True)
        self._edited("fortnox", number, "invoice_booked", True)
        self.booked[number] = self.fortnox.fields_of(number)

    @rule(system=st.sampled_from(["webcrm", "fortnox"]))
    def lose_next_create_answer(self, system: System) -> None:
        self.systems.sources[system].faults.lose_create_answer_once = True

    # --- syncs ------------------------------------------------------------------------------

    def _sync(self, mode: Mode = Mode.INCREMENTAL) -> RunResult:
        result = self.loop.run_until_complete(
            sync_entity(SPEC, self.state, self.systems.sources, mode=mode, create_settle=SETTLED)
        )
        assert result.status is RunStatus.COMPLETED, result.message
        self._check_interrupted()
        self._check_locked_reported(result)
        if mode is not Mode.RETRY:  # a retry looks at failed records only
            self._check_no_update_lost()
        return result

    @rule()
    def sync(self) -> None:
        self._sync()

    @rule()
    def quiet_sync(self) -> None:
        for system in ("webcrm", "fortnox"):
            self.systems.sources[system].faults.lose_create_answer_once = False
        self._sync(Mode.RETRY)
        self._sync(Mode.FULL)
        writes = self.systems.writes
        again = self._sync()
        assert self.systems.writes == writes, "a sync right after a sync wrote something"
        assert again.plan is not None
        # A change to a booked document stays pending in webCRM: planned, never sent.
        assert not [a for a in again.plan.actions if a.writes and a.fortnox_id not in self.booked]
        self._check_agreement()
        self._check_no_duplicates()

    # --- checks -----------------------------------------------------------------------------

    def _check_interrupted(self) -> None:
        """After any run, whole or not: booked documents untouched, webCRM's edits to them kept."""
        assert self.fortnox.locked_writes == 0, "a write reached a booked document"
        for number, fields in self.booked.items():
            assert self.fortnox.fields_of(number) == fields, f"booked document {number} changed"
        conflicts = self.loop.run_until_complete(self.state.conflicts(ENTITY))
        for (delivery, name), value in self.kept.items():
            row = self.webcrm.rows.get(delivery)
            if row is not None and row.fields[name] == value:
                continue
            # Fortnox changed the field too before the booking: the booked value wins by the
            # field's policy, and the conflict records webCRM's value.
            recorded = [
                c
                for c in conflicts
                if c.webcrm_id == delivery and c.report.field == name
                and c.report.webcrm_value == value
            ]  # fmt: skip
            if not recorded:
                raise AssertionError(
                    f"webCRM's change to {delivery}.{name} on a booked one was lost"
                )

    def _check_no_update_lost(self) -> None:
        """Every change is on both sides, or overwritten by a later one, or recorded: a stored
        conflict naming it, or a stored error (locked, failed, a create of unknown outcome) that
        holds it; those are checked again once their record settles."""
        links = {(s, link.id_on(s)): link for link in self._links() for s in ("webcrm", "fortnox")}
        held = unsettled(self.loop, self.state, ENTITY)
        conflicts = self.loop.run_until_complete(self.state.conflicts(ENTITY))
        edits = dict(self.edits)
        for (system, record_id, name), (value, step) in edits.items():
            link = links.get((system, record_id))
            if record_id not in self.systems.sources[system].rows or link is None:
                continue  # not linked (excluded, failed, not yet created): checked later
            if (system, record_id) in held:
                continue  # waits in a stored error: checked once settled
            del self.edits[system, record_id, name]
            webcrm = self.webcrm.rows[link.webcrm_id]
            fortnox = self.fortnox.rows[link.fortnox_id]
            if webcrm.type != "Customer":
                continue  # excluded: nothing syncs
            if system == "webcrm" and link.fortnox_id in self.booked:
                continue  # locked: stays in webCRM (checked with the booked ones)
            partner: System = "fortnox" if system == "webcrm" else "webcrm"
            later = edits.get((partner, link.id_on(partner), name))
            if later is not None and later[1] > step:
                continue  # overwritten on the other side afterwards (or a recorded conflict)
            if value in (None, ""):
                continue  # a blank never overwrites a value; it may be held
            if webcrm.fields[name] == fortnox.fields[name] == value:
                continue
            recorded = [
                c
                for c in conflicts
                if c.link_id == link.id
                and c.report.field == name
                and value in (c.report.webcrm_value, c.report.fortnox_value)
            ]
            assert recorded, f"{system} {record_id}.{name} = {value!r} was lost without a trace"

    def _check_locked_reported(self, result: RunResult) -> None:
        for outcome in result.outcomes:
            fortnox_id = outcome.fortnox_id
            writes_booked = fortnox_id in self.booked and any(
                c.system == "fortnox" for c in outcome.action.changes
            )
            if writes_booked:
                assert outcome.status is RecordStatus.LOCKED, outcome
        errors = self.loop.run_until_complete(self.state.open_errors(ENTITY))
        for error in errors:
            if error.kind is ErrorKind.LOCKED:
                assert "booked" in error.reason and "stays in webCRM" in error.reason

    def _check_agreement(self) -> None:
        for link in self._links():
            if link.fortnox_id in self.booked:
                continue  # webCRM may keep changes that cannot be sent
            webcrm = self.webcrm.rows[link.webcrm_id]
            fortnox = self.fortnox.rows[link.fortnox_id]
            if webcrm.type != "Customer":
                continue
            for name in SPEC.rules:
                w, f = webcrm.fields[name], fortnox.fields[name]
                assert w == f or w in (None, "") or f in (None, ""), (name, w, f)

    def _check_no_duplicates(self) -> None:
        for system in ("webcrm", "fortnox"):
            source = self.systems.sources[system]
            keys = Counter(r.key for r in source.rows.values() if r.key)
            assert not [k for k, n in keys.items() if n > 1], f"{system} has duplicates: {keys}"


class CrashingDocumentMachine(FaultRules, DocumentMachine):
    """The document machine, with crashes at any step of a run and runs under faults."""

    SPEC = SPEC


def test_random_document_edits_bookings_and_syncs() -> None:
    run_machine(DocumentMachine, examples=_examples(15), steps=25)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_document_crashes_and_faults_between_and_inside_syncs() -> None:
    run_machine(CrashingDocumentMachine, examples=_examples(15), steps=30)


async def test_a_change_to_a_booked_document_is_locked_and_stays(state: TenantState) -> None:
    systems = Systems(
        webcrm=FakeSystem("webcrm", ENTITY, timestamps=True, fields=FIELDS),
        fortnox=FortnoxDocuments(),
    )
    lines = encode_lines(
        [Line.of(article="101", description="", quantity=1, price=10, discount=0, vat=25)]
    )
    delivery = systems.webcrm.add(customer="1", lines=lines)
    await sync_entity(SPEC, state, systems.sources)
    [link] = await state.links(ENTITY)
    systems.fortnox.edit(link.fortnox_id, invoice_booked=True)
    await sync_entity(SPEC, state, systems.sources)
    assert systems.webcrm.fields_of(delivery)["invoice_booked"] is True
    systems.webcrm.edit(delivery, order_date="2026-04-01")

    result = await sync_entity(SPEC, state, systems.sources)

    [outcome] = result.outcomes
    assert outcome.status is RecordStatus.LOCKED
    assert result.exit_code == 3
    assert systems.fortnox.fields_of(link.fortnox_id)["order_date"] is None
    assert systems.webcrm.fields_of(delivery)["order_date"] == "2026-04-01"
    [error] = await state.open_errors(ENTITY)
    assert error.kind is ErrorKind.LOCKED
    assert error.reason.startswith("locked: invoice")
    assert f"of order {link.fortnox_id} is booked" in error.reason  # the sync made an order
    assert "not sent" in error.reason


async def test_a_crash_after_settling_a_conflict_keeps_its_record(state: TenantState) -> None:
    systems = Systems(
        webcrm=FakeSystem("webcrm", ENTITY, timestamps=True, fields=FIELDS),
        fortnox=FortnoxDocuments(),
    )
    delivery = systems.webcrm.add(customer="1", order_date="2026-03-01", lines="[]")
    await sync_entity(SPEC, state, systems.sources)
    [link] = await state.links(ENTITY)
    systems.fortnox.edit(link.fortnox_id, order_date="2026-03-02")
    systems.webcrm.edit(delivery, order_date="2026-03-03")  # loses: Fortnox's policy wins
    # The process dies right after Fortnox's value overwrote webCRM's, before anything is stored.
    dying = {"webcrm": DyingSystem(systems.webcrm, Fuse(1)), "fortnox": systems.fortnox}
    with pytest.raises(ProcessDied):
        await sync_entity(SPEC, state, dying)  # type: ignore[arg-type]

    await sync_entity(SPEC, state, systems.sources)

    assert systems.webcrm.fields_of(delivery)["order_date"] == "2026-03-02"
    recorded = [
        c
        for c in await state.conflicts(ENTITY)
        if c.report.field == "order_date" and c.report.webcrm_value == "2026-03-03"
    ]
    assert recorded, "webCRM's 2026-03-03 was overwritten and no conflict records it"
