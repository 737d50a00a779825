"""Planning a run: read what it needs, then decide every action; write nothing.

The plan is a list of actions, one per record or pair, that ``plan`` prints and ``sync`` applies
(see :mod:`webcrm_fortnox.engine.apply`). It is made in two steps: every read first, into a
snapshot (:func:`~webcrm_fortnox.engine.snapshot.read_snapshot` calls ``changes``/``get`` on
the sources and reads the state store), then :func:`~webcrm_fortnox.engine.decide.decide`, a
pure function of what was read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from webcrm_fortnox.engine.actions import Action, ActionKind
from webcrm_fortnox.engine.decide import Plan, decide
from webcrm_fortnox.engine.ports import (
    EntitySpec,
    RecordError,
    RecordSource,
    StateStore,
    System,
    system_name,
)
from webcrm_fortnox.engine.snapshot import Mode, read_snapshot

__all__ = ["Action", "ActionKind", "Mode", "Plan", "plan_run", "system_name"]


async def plan_run(
    spec: EntitySpec,
    state: StateStore,
    sources: Mapping[System, RecordSource],
    mode: Mode = Mode.INCREMENTAL,
    *,
    retry: Sequence[RecordError] = (),
) -> Plan:
    """Compute every action of a run without writing anything.

    Args:
        spec: fields, rules and match keys of the entity.
        state: the tenant's state store (only read).
        sources: the entity's record source per system.
        mode: incremental (from the cursors; a side without one is read in full, and a first
            run matches before creating), full reconciliation, or retry.
        retry: in retry mode, the errors whose records to look at again.

    Returns:
        The plan, including the cursors to store once it is applied.
    """
    snapshot = await read_snapshot(spec, state, sources, mode, retry=retry)
    return decide(snapshot, spec)
