"""How ``status`` puts a tenant's runs from the run log together into cycles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from webcrm_fortnox.engine.ports import RunRecord
from webcrm_fortnox.service.status import cycles

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def run(
    id: int,
    entity: str | None,
    status: str = "completed",
    *,
    finished: bool = True,
    message: str | None = None,
) -> RunRecord:
    at = START + timedelta(minutes=id)
    return RunRecord(
        id=id,
        mode="incremental",
        status=status,
        started_at=at,
        finished_at=at + timedelta(seconds=30) if finished else None,
        counts={"synced": id},
        message=message,
        entity=entity,
    )


def test_runs_down_to_a_customer_run_are_one_cycle_newest_first() -> None:
    log = [
        run(6, "document", "aborted", message="webCRM: unreachable"),
        run(5, "article"),
        run(4, "customer"),
        run(3, "document"),
        run(2, "customer"),
        run(1, None),
    ]

    found = cycles(log)

    assert [cycle.counts for cycle in found] == [
        {"customer": {"synced": 4}, "article": {"synced": 5}, "document": {"synced": 6}},
        {"customer": {"synced": 2}, "document": {"synced": 3}},
        {},
    ]
    assert not found[0].completed and found[0].message == "webCRM: unreachable"
    assert found[0].at == START + timedelta(minutes=6, seconds=30)
    assert found[1].completed and found[1].message is None


def test_a_cycle_still_running_is_not_a_finished_one() -> None:
    found = cycles([run(3, "article", "running", finished=False), run(2, "customer"), run(1, None)])

    assert [cycle.at for cycle in found] == [START + timedelta(minutes=1, seconds=30)]


def test_runs_older_than_the_oldest_customer_run_read_are_left_out() -> None:
    assert cycles([run(2, "document"), run(1, "article")]) == []
