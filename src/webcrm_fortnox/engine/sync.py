"""One run of one entity for one tenant: plan, apply, move the cursors, log the run.

This is a plain async function of its inputs (the entity's rules, the tenant's state store and
the two record sources); it keeps nothing between calls, so many tenants run side by side in one
process.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from webcrm_fortnox.engine.apply import (
    ATTENTION,
    CREATE_SETTLE,
    STOPPING,
    Applier,
    RecordOutcome,
    RecordStatus,
)
from webcrm_fortnox.engine.plan import Mode, Plan, plan_run
from webcrm_fortnox.engine.ports import EntitySpec, RecordSource, StateStore, System, utcnow
from webcrm_fortnox.engine.reachability import Reachability, SystemUnreachable
from webcrm_fortnox.errors import ApiError

log = logging.getLogger(__name__)


Progress = Callable[[int, int, RecordOutcome], None]


class RunStatus(StrEnum):
    PLANNED = "planned"  #: a dry run: the plan was made, nothing applied
    COMPLETED = "completed"  #: every action was handled (some may have failed)
    ABORTED = "aborted"  #: the run could not complete (authentication, unreachable system)


#: The run-log count of the actions a stopped run did not try (left to the next run).
NOT_ATTEMPTED = "not_attempted"


@dataclass
class RunResult:
    """What a run did, per record, and how it ended.

    Attributes:
        entity: the entity synced.
        mode: incremental, full or retry.
        status: planned, completed or aborted.
        plan: the actions computed.
        outcomes: one per applied action, in order.
        message: for an aborted run, why, in plain English.
        error: for an aborted run, the error that stopped it.
        run_id: the run-log row (``None`` for a dry run).
        not_attempted: for a run stopped part way, the planned actions (and queued
            write-backs after creates) it did not try.
    """

    entity: str
    mode: Mode
    status: RunStatus
    plan: Plan | None = None
    outcomes: list[RecordOutcome] = field(default_factory=list)
    message: str | None = None
    error: BaseException | None = None
    run_id: int | None = None
    not_attempted: int = 0

    @property
    def counts(self) -> dict[str, int]:
        """Outcomes per status (and the actions not attempted), for logs and the run log."""
        counts = Counter(outcome.status.value for outcome in self.outcomes)
        if self.not_attempted:
            counts[NOT_ATTEMPTED] = self.not_attempted
        return dict(sorted(counts.items()))

    @property
    def needing_attention(self) -> list[RecordOutcome]:
        """Failed records, ambiguous matches and open manual conflicts."""
        return [o for o in self.outcomes if o.status in ATTENTION]

    @property
    def exit_code(self) -> int:
        """0: every record synced or was excluded; 3: some need attention; 1: aborted."""
        if self.status is RunStatus.ABORTED:
            return 1
        return 3 if self.needing_attention else 0


async def sync_entity(
    spec: EntitySpec,
    state: StateStore,
    sources: Mapping[System, RecordSource],
    *,
    mode: Mode = Mode.INCREMENTAL,
    retry_error: int | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    now: Callable[[], datetime] = utcnow,
    create_settle: timedelta = CREATE_SETTLE,
) -> RunResult:
    """Run one sync of one entity.

    Args:
        spec: the entity's fields, rules and match keys.
        state: the tenant's state store.
        sources: the entity's record source per system (``"webcrm"``, ``"fortnox"``).
        mode: incremental (the default; a first run reads everything and matches before
            creating), full reconciliation, or retry of stored errors.
        retry_error: in retry mode, the id of the one error to retry (default: all open ones).
        dry_run: compute and return the plan only; nothing is written anywhere.
        progress: called after each applied action with (done, total, outcome).
        now: the clock the state store stamps rows with (tests pass the emulators').
        create_settle: how long a create that got no answer is given to land before a lookup
            that does not find it may send it again.

    Returns:
        The result; see :attr:`RunResult.exit_code`. Authentication and permission failures,
        failures while reading and a system that stopped answering (see
        :mod:`~webcrm_fortnox.engine.reachability`) are not raised but end the run as aborted.
    """
    result = RunResult(spec.entity, mode, RunStatus.COMPLETED)
    moved: Mapping[System, str | None] = {}
    if not dry_run:
        result.run_id = await state.start_run(mode.value, spec.entity)
    try:
        retry = []
        if mode is Mode.RETRY:
            retry = [
                e
                for e in await state.open_errors(spec.entity)
                if retry_error is None or e.id == retry_error
            ]
        result.plan = await plan_run(spec, state, sources, mode, retry=retry)
        if dry_run:
            result.status = RunStatus.PLANNED
            return result
        applier = Applier(spec, state, sources, now=now, create_settle=create_settle)
        reachability = Reachability()
        total = len(result.plan.actions)
        done = 0
        try:
            for done, action in enumerate(result.plan.actions, start=1):
                outcome = await applier.apply(action)
                result.outcomes.append(outcome)
                if progress is not None:
                    progress(done, total, outcome)
                # Write-backs that failed meanwhile (queued after creates) count as failures.
                settled = await applier.settled()
                result.outcomes += settled
                reachability.observe(outcome, *settled)
            settled = await applier.settled(wait=True)
            result.outcomes += settled
            reachability.observe(*settled)
        except SystemUnreachable:
            # Write-backs still queued are not sent either: their pairs keep the old base, so
            # the next run sends them, as it tries the actions left.
            result.not_attempted = total - done + applier.writebacks.waiting()
            raise
        finally:
            await applier.close()
        # Only now are the records these cursors cover handled (failures are stored errors):
        # they are stored with the run's end.
        moved = result.plan.cursors
    except STOPPING as error:
        _abort(result, error, f"stopped: {error}")
    except SystemUnreachable as stop:
        # The cursors stay: every record not handled is read again by the next run.
        _abort(result, stop.error, f"stopped: {stop.error}")
    except ApiError as error:
        # Reading failed after the transport's retries: the run cannot know what changed.
        _abort(result, error, f"could not read changes: {error}")
    except BaseException as error:
        # A defect, or the caller stopping the run (cancellation, a stop between records): log
        # the run as aborted, then let it surface. Only a defect is an error.
        if isinstance(error, Exception):
            _abort(result, error, f"internal error: {type(error).__name__}: {error}")
        else:
            _abort(result, error, f"interrupted: {type(error).__name__}", level=logging.INFO)
        if result.run_id is not None:
            await state.finish_run(
                result.run_id, result.status.value, result.counts, result.message
            )
        raise
    if result.run_id is not None:
        await state.finish_run(
            result.run_id,
            result.status.value,
            result.counts,
            result.message,
            entity=spec.entity,
            cursors=moved,
        )
    return result


def _abort(
    result: RunResult, error: BaseException, message: str, *, level: int = logging.ERROR
) -> None:
    result.status = RunStatus.ABORTED
    result.error = error
    result.message = message
    log.log(level, "run aborted", extra={"entity": result.entity, "error": message})


__all__ = [
    "Mode",
    "RecordOutcome",
    "RecordStatus",
    "RunResult",
    "RunStatus",
    "sync_entity",
]
