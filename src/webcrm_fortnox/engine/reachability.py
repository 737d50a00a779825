"""Telling a system that went away mid-run from records that failed one by one.

A record whose write got no answer (connection refused, timed out, dropped) after the clients'
own retries is stored as a per-record error, like any failure. When several records in a row
fail that way for the same system, the system is gone rather than blipping: every further
record would wait out the same retries and fail the same way, each stored as a failure, for as
long as the plan lasts. :class:`Reachability` notices it, so the run stops instead and leaves
the records it did not try to the next run (its cursors do not move).
"""

from __future__ import annotations

from collections import Counter

from webcrm_fortnox.engine.apply import RecordOutcome, RecordStatus
from webcrm_fortnox.engine.plan import ActionKind
from webcrm_fortnox.engine.ports import SYSTEMS, System, other_system
from webcrm_fortnox.errors import ApiError, NoAnswer

#: Records in a row that got no answer from one system before the run stops. One may be a blip
#: outlasting the retries; three, with nothing answered between them, is a system that is down.
UNREACHABLE_AFTER = 3


class SystemUnreachable(Exception):
    """A system stopped answering mid-run; carries the last :class:`NoAnswer` from it."""

    def __init__(self, error: NoAnswer) -> None:
        super().__init__(str(error))
        self.error = error


def written_to(outcome: RecordOutcome) -> set[System]:
    """The systems a synced record's action wrote to (and so found answering)."""
    action = outcome.action
    systems = {change.system for change in action.changes}
    if action.kind is ActionKind.CREATE and action.source is not None:
        systems.add(other_system(action.source))
    return systems


class Reachability:
    """Counts, per system, the records in a row that failed for want of an answer from it.

    Args:
        threshold: how many such records in a row mean the system is down.
    """

    def __init__(self, threshold: int = UNREACHABLE_AFTER) -> None:
        self.threshold = threshold
        self._in_a_row: Counter[str] = Counter()

    def observe(self, *outcomes: RecordOutcome) -> None:
        """Take records' outcomes into account, in order.

        Any answer from a system (a success written to it, or a refusal it sent) starts its
        count again; an outcome that involved neither says nothing about either.

        Raises:
            SystemUnreachable: ``threshold`` records in a row got no answer from one system.
        """
        unreachable = None
        for outcome in outcomes:
            error = outcome.error
            if isinstance(error, NoAnswer):
                self._in_a_row[error.system] += 1
                if self._in_a_row[error.system] >= self.threshold:
                    unreachable = error
            elif isinstance(error, ApiError):
                self._in_a_row[error.system] = 0
            elif outcome.status is RecordStatus.SYNCED:
                for system in written_to(outcome) & set(SYSTEMS):
                    self._in_a_row[system] = 0
        if unreachable is not None:
            raise SystemUnreachable(unreachable)
