"""The schedule after a job, from the stored one and the job's outcome: pure functions, tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.service.job import (
    JobOutcome,
    JobResult,
    WorkerSettings,
    backoff,
    due_at,
    first_schedule,
    next_schedule,
)
from webcrm_fortnox.service.runner import FAILING, OK, RECONNECT, TenantRun
from webcrm_fortnox.store.service import Schedule

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS = WorkerSettings(full_every=86400.0, first_backoff=5.0, max_backoff=60.0)
INTERVAL = 300.0


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


#: next cycle in a minute, next full in an hour, nothing wrong
STORED = Schedule(next_cycle_at=at(60), next_full_at=at(3600))
#: two failures in a row, backing off
FAILING_TWICE = replace(STORED, failures=2, retry_at=at(10))
#: paused for new Fortnox tokens, with credentials "v1"
PAUSED = replace(
    STORED,
    paused=RECONNECT,
    paused_by="run",
    paused_reason="refused",
    paused_tokens="v1",
)
DONE = TenantRun("acme")
CUT = TenantRun("acme", message="webCRM: no answer")


def outcome(
    result: JobResult,
    trigger: str = "cycle",
    mode: Mode | None = Mode.INCREMENTAL,
    health: str | None = OK,
    run: TenantRun | None = DONE,
    credentials: str | None = "v1",
) -> JobOutcome:
    reason = None if health == OK else "why"
    return JobOutcome(
        "acme", result, trigger, mode, health, reason, run, credentials=credentials, actor="run"
    )


CASES = [
    # (what, stored, outcome, expected schedule)
    (
        "a cycle moves the next cycle on",
        STORED,
        outcome(JobResult.SYNCED),
        replace(STORED, next_cycle_at=at(INTERVAL)),
    ),
    (
        "a triggered sync leaves the cycle where it was",
        STORED,
        outcome(JobResult.SYNCED, trigger="fortnox feed"),
        STORED,
    ),
    (
        "sync --once leaves it too",
        STORED,
        outcome(JobResult.SYNCED, trigger="once"),
        STORED,
    ),
    (
        "a full reconciliation moves both on",
        STORED,
        outcome(JobResult.SYNCED, trigger="once", mode=Mode.FULL),
        Schedule(next_cycle_at=at(INTERVAL), next_full_at=at(86400)),
    ),
    (
        "a full one that was cut short leaves the full one due",
        STORED,
        outcome(JobResult.SYNCED, mode=Mode.FULL, health=FAILING, run=CUT),
        replace(STORED, next_cycle_at=at(INTERVAL), failures=1, retry_at=at(5)),
    ),
    (
        "a success clears the failures and the backoff",
        FAILING_TWICE,
        outcome(JobResult.SYNCED, trigger="webcrm hook"),
        STORED,
    ),
    (
        "a third failure waits twice as long again",
        FAILING_TWICE,
        outcome(JobResult.SYNCED, trigger="webcrm hook", health=FAILING, run=CUT),
        replace(STORED, failures=3, retry_at=at(20)),
    ),
    (
        "a defect counts as a failure",
        STORED,
        outcome(JobResult.ERROR, health=FAILING, run=None),
        replace(STORED, next_cycle_at=at(INTERVAL), failures=1, retry_at=at(5)),
    ),
    (
        "refused credentials pause the tenant, with who, why and which credentials",
        STORED,
        outcome(JobResult.PAUSED, health=RECONNECT, run=CUT, credentials="v1"),
        replace(PAUSED, next_cycle_at=at(INTERVAL), paused_reason="why"),
    ),
    (
        "still paused with the same credentials: nothing changes",
        PAUSED,
        outcome(JobResult.PAUSED, health=RECONNECT, run=None, credentials="v1"),
        PAUSED,
    ),
    (
        "new credentials that are refused again: paused with those",
        PAUSED,
        outcome(JobResult.PAUSED, health=RECONNECT, run=CUT, credentials="v2"),
        replace(PAUSED, next_cycle_at=at(INTERVAL), paused_reason="why", paused_tokens="v2"),
    ),
    (
        "new credentials that work resume it",
        PAUSED,
        outcome(JobResult.SYNCED, credentials="v2"),
        replace(STORED, next_cycle_at=at(INTERVAL)),
    ),
    (
        "another process syncing it changes nothing",
        FAILING_TWICE,
        outcome(JobResult.BUSY, run=None, health=None),
        FAILING_TWICE,
    ),
    (
        "a stop between records changes nothing",
        STORED,
        outcome(JobResult.STOPPED, run=None, health=None),
        STORED,
    ),
    (
        "a first job sets the full reconciliation it lacks",
        Schedule(),
        outcome(JobResult.SYNCED, trigger="once"),
        Schedule(next_full_at=at(86400)),
    ),
]


@pytest.mark.parametrize(
    ("stored", "done", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_next_schedule(stored: Schedule, done: JobOutcome, expected: Schedule) -> None:
    assert next_schedule(stored, done, NOW, SETTINGS, INTERVAL) == expected


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 5.0), (1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (5, 60.0), (30, 60.0)],
)
def test_the_backoff_doubles_up_to_its_cap(failures: int, seconds: float) -> None:
    assert backoff(failures, SETTINGS) == seconds


def test_a_first_schedule_fills_only_what_is_missing() -> None:
    assert first_schedule(Schedule(), NOW, 90, SETTINGS) == Schedule(
        next_cycle_at=at(90), next_full_at=at(86400)
    )
    assert first_schedule(FAILING_TWICE, NOW, 90, SETTINGS) == FAILING_TWICE


@pytest.mark.parametrize(
    ("schedule", "due"),
    [
        (STORED, at(60)),
        (replace(STORED, retry_at=at(120)), at(120)),
        (replace(STORED, retry_at=at(10)), at(60)),
        (Schedule(retry_at=at(10)), None),
    ],
)
def test_a_tenant_is_due_at_its_cycle_but_not_before_its_backoff(
    schedule: Schedule, due: datetime | None
) -> None:
    assert due_at(schedule) == due
