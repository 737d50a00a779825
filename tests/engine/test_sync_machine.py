"""Random edits on both sides interleaved with syncs, checked like vdirsyncer's SyncMachine.

After every sync: no update a person made is lost unless a conflict recording it was stored.
After a quiet sync (retry, full reconciliation, then incremental): the incremental run writes
nothing, both sides agree on every synced field of every active pair (except fields held on
purpose: an open manual conflict or a blank that may not overwrite), nothing was created twice,
and every eligible record is linked exactly once unless the run reported why not.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from tests.engine.fakes import SYNC_TYPES, FakeSystem, Systems, customer_spec
from tests.store.backends import POSTGRES_ENV
from webcrm_fortnox.engine.apply import RecordStatus
from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.engine.ports import System, other_system
from webcrm_fortnox.engine.sync import RunResult, RunStatus, sync_entity
from webcrm_fortnox.store import StateDatabase, TenantState

SPEC = customer_spec()
#: Syncs here lie minutes apart, and a fake system carries out a write at once or never: the
#: next sync may conclude that a create it does not find never arrived.
SETTLED = timedelta(0)
EDITABLE = ("name", "phone", "city", "email")  # "number" is Fortnox's own: not edited by people
VALUES = st.sampled_from(["Acme", "Beta", "Lund", "Umeå", "08-1", "a@x.se", "", None])
#: values people write on both sides of a pair at once (blanks never conflict: they are held)
CONFLICTING = ["Acme", "Beta", "Lund", "Umeå", "08-1", "a@x.se"]
TYPES = st.sampled_from(["Customer", "Private Customer", "Prospect", None])
_tenants = itertools.count()
#: how long after it was sent a create whose answer was lost lands: within the wait
LANDS_AFTER = st.integers(0, 299)


class SyncMachine(RuleBasedStateMachine):
    """Two fake systems and one tenant's state, driven by random rules."""

    db: StateDatabase
    loop: asyncio.AbstractEventLoop

    def __init__(self) -> None:
        super().__init__()
        self.systems = Systems()
        self.state: TenantState = self.db.tenant(f"machine-{next(_tenants)}-{uuid.uuid4().hex}")
        # (system, record id, field) → (the value a person last wrote, when), not yet checked
        self.edits: dict[tuple[System, str, str], tuple[Any, int]] = {}
        self.steps = itertools.count()
        #: (link id, field) changed on both sides → (webCRM id, Fortnox id, conflicts before)
        self.two_sided: dict[tuple[int, str], tuple[str, str, int]] = {}

    def _system(self, system: System) -> FakeSystem:
        return self.systems.sources[system]

    def _conflicts_of(self, link_id: int, name: str) -> int:
        return len([c for c in self._conflicts() if (c.link_id, c.report.field) == (link_id, name)])

    def _forget_conflict(self, system: System, record_id: str, name: str | None = None) -> None:
        """A later edit (or a deletion, a Type change) may undo a two-sided change."""
        for (link_id, field), pair in list(self.two_sided.items()):
            mine = pair[0] if system == "webcrm" else pair[1]
            if mine == record_id and name in (None, field):
                del self.two_sided[link_id, field]

    def _sync(self, mode: Mode = Mode.INCREMENTAL) -> RunResult:
        result = self.loop.run_until_complete(
            sync_entity(SPEC, self.state, self.systems.sources, mode=mode, **self._timing())
        )
        assert result.status is RunStatus.COMPLETED, result.message
        if mode is not Mode.RETRY:  # a retry looks at failed records only
            self._check_no_update_lost()
            self._check_conflicts_recorded()
        return result

    def _timing(self) -> dict[str, Any]:
        """The run's clock and its wait before a create that got no answer is sent again."""
        return {"create_settle": SETTLED}

    # --- what people do ---------------------------------------------------------------------

    @rule(system=st.sampled_from(["webcrm", "fortnox"]), data=st.data())
    def add(self, system: System, data: st.DataObject) -> None:
        fields = {name: data.draw(VALUES, label=name) for name in EDITABLE}
        kw: dict[str, Any] = {"type": data.draw(TYPES, label="type")} if system == "webcrm" else {}
        record_id = self._system(system).add(**kw, **fields)
        for name, value in fields.items():
            self.edits[system, record_id, name] = (value, next(self.steps))

    @precondition(lambda self: self.systems.webcrm.rows or self.systems.fortnox.rows)
    @rule(data=st.data(), value=VALUES, name=st.sampled_from(EDITABLE))
    def edit(self, data: st.DataObject, value: Any, name: str) -> None:
        system, record_id = self._pick(data)
        self.edit_record(system, record_id, name, value)

    def edit_record(self, system: System, record_id: str, name: str, value: Any) -> None:
        """A person writes ``value`` into one field of a record."""
        if self._system(system).fields_of(record_id)[name] == value:
            return  # writing the same value again is no change
        self._system(system).edit(record_id, **{name: value})
        self.edits[system, record_id, name] = (value, next(self.steps))
        self._forget_conflict(system, record_id, name)

    @precondition(lambda self: self._links())
    @rule(data=st.data(), name=st.sampled_from(EDITABLE))
    def edit_both_sides(self, data: st.DataObject, name: str) -> None:
        """Both sides change one field of a pair to different values before the next sync: a
        conflict, which must be recorded however its policy settles it."""
        webcrm, fortnox = self.systems.webcrm.rows, self.systems.fortnox.rows
        pairs = [
            link
            for link in self._links()
            if link.webcrm_id in webcrm
            and link.fortnox_id in fortnox
            and webcrm[link.webcrm_id].type in SYNC_TYPES
        ]
        if not pairs:
            return
        link = data.draw(st.sampled_from(sorted(pairs, key=lambda link: link.id)))
        taken = {
            link.base.get(name),
            webcrm[link.webcrm_id].fields[name],
            fortnox[link.fortnox_id].fields[name],
        }
        free = [value for value in CONFLICTING if value not in taken]
        if len(free) < 2:
            return
        values = data.draw(st.permutations(free)).copy()
        recorded = self._conflicts_of(link.id, name)
        self.edit_record("webcrm", link.webcrm_id, name, values[0])
        self.edit_record("fortnox", link.fortnox_id, name, values[1])
        self.two_sided[link.id, name] = (link.webcrm_id, link.fortnox_id, recorded)

    @precondition(lambda self: self.systems.webcrm.rows or self.systems.fortnox.rows)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        system, record_id = self._pick(data)
        self._system(system).delete(record_id)
        self._forget_conflict(system, record_id)

    @precondition(lambda self: self.systems.webcrm.rows)
    @rule(data=st.data(), type=TYPES)
    def change_type(self, data: st.DataObject, type: str | None) -> None:
        record_id = data.draw(st.sampled_from(sorted(self.systems.webcrm.rows)))
        self.systems.webcrm.set_type(record_id, type)
        self._forget_conflict("webcrm", record_id)

    @rule(system=st.sampled_from(["webcrm", "fortnox"]))
    def lose_next_create_answer(self, system: System) -> None:
        self._system(system).faults.lose_create_answer_once = True

    def _pick(self, data: st.DataObject) -> tuple[System, str]:
        choices = [("webcrm", i) for i in self.systems.webcrm.rows] + [
            ("fortnox", i) for i in self.systems.fortnox.rows
        ]
        return data.draw(st.sampled_from(sorted(choices)))  # type: ignore[return-value]

    # --- syncs ------------------------------------------------------------------------------

    @rule()
    def sync(self) -> None:
        self._sync()

    @rule()
    def reconcile(self) -> None:
        self._sync(Mode.FULL)

    @rule()
    def quiet_sync(self) -> None:
        for system in ("webcrm", "fortnox"):
            self._system(system).faults.lose_create_answer_once = False
        self._sync(Mode.RETRY)
        full = self._sync(Mode.FULL)
        writes = self.systems.writes
        again = self._sync()
        assert self.systems.writes == writes, "a sync right after a sync wrote something"
        assert again.plan is not None and not [a for a in again.plan.actions if a.writes]
        self._check_agreement()
        self._check_no_duplicates()
        self._check_linked_once(full)
        pending = self.loop.run_until_complete(self.state.pending_intents("customer"))
        assert pending == [], "a create of unknown outcome was left unresolved"

    # --- checks -----------------------------------------------------------------------------

    def _links(self) -> list[Any]:
        return self.loop.run_until_complete(self.state.links("customer"))

    def _conflicts(self) -> list[Any]:
        return self.loop.run_until_complete(self.state.conflicts("customer"))

    def _check_no_update_lost(self) -> None:
        links = {(s, link.id_on(s)): link for link in self._links() for s in ("webcrm", "fortnox")}
        conflicts = self._conflicts()
        edits = dict(self.edits)
        for (system, record_id, name), (value, step) in edits.items():
            mine = self._system(system).rows.get(record_id)
            link = links.get((system, record_id))
            if mine is None or link is None:
                continue  # deleted, or not linked (excluded, review, failed): checked below
            webcrm = self.systems.webcrm.rows.get(link.webcrm_id)
            fortnox = self.systems.fortnox.rows.get(link.fortnox_id)
            del self.edits[system, record_id, name]
            if webcrm is None or fortnox is None or webcrm.type not in SYNC_TYPES:
                continue  # one side gone, or excluded: nothing syncs, nothing is expected to
            partner = "fortnox" if system == "webcrm" else "webcrm"
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

    def _check_conflicts_recorded(self) -> None:
        """Every two-sided change left a conflict record, whichever side its policy chose."""
        for (link_id, name), (webcrm_id, _, before) in list(self.two_sided.items()):
            del self.two_sided[link_id, name]
            assert self._conflicts_of(link_id, name) > before, (
                f"webCRM {webcrm_id} and its partner both changed {name}: no conflict recorded"
            )

    def _check_agreement(self) -> None:
        open_conflicts = {
            (c.link_id, c.report.field) for c in self._conflicts() if c.resolved_at is None
        }
        for link in self._links():
            webcrm = self.systems.webcrm.rows[link.webcrm_id]
            fortnox = self.systems.fortnox.rows[link.fortnox_id]
            if webcrm.type not in SYNC_TYPES:
                continue
            for name in SPEC.rules:
                w, f = webcrm.fields[name], fortnox.fields[name]
                if w == f or (link.id, name) in open_conflicts:
                    continue
                assert w in (None, "") or f in (None, ""), (name, w, f)

    def _check_no_duplicates(self) -> None:
        for system in ("webcrm", "fortnox"):
            keys = Counter(self._system(system).keys())
            assert not [k for k, n in keys.items() if n > 1], f"{system} has duplicates: {keys}"

    def _check_linked_once(self, full: RunResult) -> None:
        links = self._links()
        reported = {
            (system, o.action.id_on(system))
            for o in full.outcomes
            if o.status in (RecordStatus.REVIEW, RecordStatus.EXCLUDED)
            for system in ("webcrm", "fortnox")
        }
        for system in ("webcrm", "fortnox"):
            linked = Counter(link.id_on(system) for link in links)
            assert all(n == 1 for n in linked.values())
            for record_id, row in self._system(system).rows.items():
                eligible = system == "fortnox" or row.type in SYNC_TYPES
                if eligible and (system, record_id) not in reported:
                    assert linked[record_id] == 1, f"{system} {record_id} is not linked"


class SettlingSyncMachine(SyncMachine):
    """The machine on a clock, with a wait before a create that got no answer is sent again.

    A create whose answer is lost is carried out by the vendor a while later, within the wait
    (``unanswered_create_wait_seconds``): the sync must not send it again before it could have
    landed, so nothing is ever created twice, counting creates still in flight. Time passes only
    when people wait; a quiet sync comes after a wait long enough for every create to land.
    """

    SETTLE = timedelta(minutes=5)

    def __init__(self) -> None:
        super().__init__()
        self.clock = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
        for fake in self.systems.sources.values():
            fake.clock = lambda: self.clock
        self.db.clock = lambda: self.clock  # the state store stamps intents by it too

    def _timing(self) -> dict[str, Any]:
        return {"now": lambda: self.clock, "create_settle": self.SETTLE}

    def _wait(self, seconds: float) -> None:
        self.clock += timedelta(seconds=seconds)
        for fake in self.systems.sources.values():
            fake.land()

    @initialize(source=st.sampled_from(["webcrm", "fortnox"]), seconds=LANDS_AFTER)
    def create_in_flight(self, source: System, seconds: int) -> None:
        # Every example starts with the case the wait is for: a create that got no answer and
        # lands later; any sync before it lands must not send it again.
        record_id = self._system(source).add(name="Acme")
        self.edits[source, record_id, "name"] = ("Acme", next(self.steps))
        self.land_next_create_late(other_system(source), seconds)
        self._sync()

    @rule(system=st.sampled_from(["webcrm", "fortnox"]), seconds=LANDS_AFTER)
    def land_next_create_late(self, system: System, seconds: int) -> None:
        self._system(system).faults.create_lands_after_once = timedelta(seconds=seconds)

    @rule(seconds=st.sampled_from([10, 60, 200, 299, 300, 301, 900]))
    def wait(self, seconds: int) -> None:
        self._wait(seconds)

    def _sync(self, mode: Mode = Mode.INCREMENTAL) -> RunResult:
        self._wait(0)  # what is due has landed
        result = super()._sync(mode)
        self._check_no_duplicates()  # creates in flight included: none was sent twice
        return result

    @rule()
    def quiet_sync(self) -> None:
        for fake in self.systems.sources.values():
            fake.faults.create_lands_after_once = None
        self._wait(self.SETTLE.total_seconds())
        super().quiet_sync()


def _run(
    db_url: str, *, schema: str | None, examples: int, machine: type[SyncMachine] = SyncMachine
) -> None:
    loop = asyncio.new_event_loop()
    try:
        db = loop.run_until_complete(StateDatabase.open(db_url, schema=schema))
        machine.db, machine.loop = db, loop
        try:
            case = machine.TestCase
            case.settings = settings(
                max_examples=examples,
                stateful_step_count=25,
                deadline=None,
                report_multiple_bugs=False,
                suppress_health_check=[HealthCheck.too_slow],
            )
            case().runTest()
        finally:
            loop.run_until_complete(db.close())
    finally:
        loop.close()


def _examples(default: int) -> int:
    # A longer hunt on demand: SYNC_MACHINE_EXAMPLES=500 pytest tests/engine/test_sync_machine.py
    return int(os.environ.get("SYNC_MACHINE_EXAMPLES", default))


def test_random_edits_and_syncs_on_sqlite() -> None:
    with tempfile.TemporaryDirectory() as folder:
        _run(f"sqlite:///{Path(folder) / 'state.db'}", schema=None, examples=_examples(20))


def test_creates_without_an_answer_are_not_sent_again_before_they_could_land() -> None:
    with tempfile.TemporaryDirectory() as folder:
        _run(
            f"sqlite:///{Path(folder) / 'state.db'}",
            schema=None,
            examples=_examples(15),
            machine=SettlingSyncMachine,
        )


def test_random_edits_and_syncs_on_postgresql() -> None:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"set {POSTGRES_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1/test)")
    schema = f"test_{uuid.uuid4().hex[:16]}"
    try:
        _run(url, schema=schema, examples=_examples(8))
    finally:
        _drop(url, schema)


def _drop(url: str, schema: str) -> None:
    import sqlalchemy as sa

    from webcrm_fortnox.store.database import create_engine

    async def drop() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()

    asyncio.run(drop())
