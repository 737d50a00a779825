"""Crash and fault rules any sync state machine of ``tests/engine`` can take on.

:class:`FaultRules` adds to a machine holding ``systems`` (fake systems), ``state`` (a tenant's
state store) and ``loop``, and naming its entity's ``SPEC``:

- a crash at a random point of a run: the process dies before the n-th write to the state
  store, or right after the n-th write to a system (its answer never handled); nothing of the
  run after that point happens, not even its run-log entry;
- runs under faults: every read failing, every write failing with no reliable answer, the
  credentials refused, a create refused before it was sent; the run must end completed or
  aborted, never raise.

After each such run the machine's :meth:`FaultRules._check_interrupted` runs: what must hold
even in the middle of a run (by default nothing). :func:`unsettled` names the records whose last
change is held by a stored error or a create of unknown outcome, which a machine's check of lost
updates leaves for later.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from tests.engine.fakes import FakeSystem
from tests.engine.test_sync_machine import SETTLED
from webcrm_fortnox.engine.ports import EntitySpec, StateStore, System
from webcrm_fortnox.engine.sync import RunResult, RunStatus, sync_entity
from webcrm_fortnox.errors import ApiError, AuthExpired, TransientError
from webcrm_fortnox.store import StateDatabase

#: State-store methods that write: the process may die before any of them.
STATE_WRITES = frozenset(
    {
        "start_run",
        "finish_run",
        "save_link",
        "unlink",
        "set_cursor",
        "add_intent",
        "finish_intent",
        "record_error",
        "resolve_errors",
        "add_conflicts",
        "resolve_conflict",
        "save_match_decision",
    }
)


class ProcessDied(BaseException):
    """The process running the sync was killed (a BaseException, as SIGKILL is beyond handling)."""


class Fuse:
    """Counts steps of a run and kills it at step ``at``; after that every step fails too."""

    def __init__(self, at: int) -> None:
        self.left = at

    def step(self) -> None:
        self.left -= 1
        if self.left <= 0:
            raise ProcessDied(f"killed {-self.left} step(s) ago")


class DyingState:
    """A state store whose process dies before the fuse's n-th write."""

    def __init__(self, inner: StateStore, fuse: Fuse) -> None:
        self.inner = inner
        self.fuse = fuse

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name not in STATE_WRITES:
            return method

        async def write(*args: Any, **kwargs: Any) -> Any:
            self.fuse.step()
            return await method(*args, **kwargs)

        return write


class DyingSystem:
    """A system whose caller dies right after the fuse's n-th write was carried out."""

    def __init__(self, inner: FakeSystem, fuse: Fuse) -> None:
        self.inner = inner
        self.fuse = fuse

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        created = await self.inner.create(*args, **kwargs)
        self.fuse.step()
        return created

    async def update(self, id: str, *args: Any, **kwargs: Any) -> Any:
        updated = await self.inner.update(id, *args, **kwargs)
        self.fuse.step()
        return updated


def _no_answer(system: System) -> ApiError:
    return TransientError("read timed out", system=system, not_sent=False)


#: Faults a whole run may meet: each a function putting it on a system's fakes.
RUN_FAULTS: dict[str, Callable[[FakeSystem], None]] = {
    "reads fail": lambda s: setattr(s.faults, "read_error", _no_answer(s.system)),
    "writes get no answer": lambda s: setattr(s.faults, "write_error", _no_answer(s.system)),
    "credentials refused": lambda s: setattr(
        s.faults, "write_error", AuthExpired("unauthorized", system=s.system, status=401)
    ),
    "create never arrives": lambda s: setattr(
        s.faults,
        "create_error_once",
        TransientError("connection refused", system=s.system, not_sent=True),
    ),
}


def unsettled(loop: asyncio.AbstractEventLoop, state: Any, entity: str) -> set[tuple[System, str]]:
    """Records whose last change is recorded as an open error or an unresolved create, with
    their linked partners: their changes are not lost but wait for a retry or a lookup."""
    errors = loop.run_until_complete(state.open_errors(entity))
    intents = loop.run_until_complete(state.pending_intents(entity))
    held: set[tuple[System, str]] = {(e.system, e.record_id) for e in errors}
    held |= {(("webcrm" if i.target == "fortnox" else "fortnox"), i.source_id)
             for i in intents}  # fmt: skip
    for link in loop.run_until_complete(state.links(entity)):
        ids: set[tuple[System, str]] = {("webcrm", link.webcrm_id), ("fortnox", link.fortnox_id)}
        if ids & held:
            held |= ids
    return held


class FaultRules:
    """Crash and fault rules for a machine with ``systems``, ``state``, ``loop`` and ``SPEC``."""

    SPEC: ClassVar[EntitySpec]
    systems: Any
    state: Any
    loop: asyncio.AbstractEventLoop

    def _run(self, state: Any, sources: Any) -> Awaitable[RunResult]:
        return sync_entity(self.SPEC, state, sources, create_settle=SETTLED)

    def _check_interrupted(self) -> None:
        """What must hold after any run, even one killed or failing half-way."""

    @rule(at=st.integers(min_value=1, max_value=40))
    def crash(self, at: int) -> None:
        """A run killed at a random step; whatever it did before that stays done."""
        fuse = Fuse(at)
        sources = {s: DyingSystem(f, fuse) for s, f in self.systems.sources.items()}
        try:
            result = self.loop.run_until_complete(self._run(DyingState(self.state, fuse), sources))
        except ProcessDied:
            self._check_interrupted()
            return
        self._check_interrupted()
        assert result.status is RunStatus.COMPLETED, result.message

    @rule(fault=st.sampled_from(sorted(RUN_FAULTS)), system=st.sampled_from(["webcrm", "fortnox"]))
    def faulty_sync(self, fault: str, system: System) -> None:
        """A run that meets a fault on one system: it completes or stops, it never raises."""
        fake: FakeSystem = self.systems.sources[system]
        RUN_FAULTS[fault](fake)
        try:
            result = self.loop.run_until_complete(self._run(self.state, self.systems.sources))
        finally:
            fake.faults.read_error = fake.faults.write_error = None
            fake.faults.create_error_once = None
        self._check_interrupted()
        assert result.status in (RunStatus.COMPLETED, RunStatus.ABORTED), result.message

    def _unsettled(self) -> set[tuple[System, str]]:
        return unsettled(self.loop, self.state, self.SPEC.entity)


def run_machine(machine: type[RuleBasedStateMachine], *, examples: int, steps: int) -> None:
    """Run a machine whose class holds ``db`` and ``loop`` on a fresh SQLite state store."""
    loop = asyncio.new_event_loop()
    try:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'state.db'}"
            db = loop.run_until_complete(StateDatabase.open(url))
            machine.db, machine.loop = db, loop  # type: ignore[attr-defined]
            try:
                case = machine.TestCase
                case.settings = settings(
                    max_examples=examples,
                    stateful_step_count=steps,
                    deadline=None,
                    report_multiple_bugs=False,
                    suppress_health_check=[HealthCheck.too_slow],
                )
                case().runTest()
            finally:
                loop.run_until_complete(db.close())
    finally:
        loop.close()
