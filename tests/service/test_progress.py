"""The progress bar of long runs: on a terminal only, and only past a few records."""

from __future__ import annotations

import io

from rich.console import Console

from webcrm_fortnox.engine.actions import Create
from webcrm_fortnox.engine.apply import RecordOutcome, RecordStatus
from webcrm_fortnox.service.commands import PROGRESS_THRESHOLD, progress_bars

CREATE = Create(entity="customer", ids={"webcrm": "1"}, source="webcrm")
OUTCOME = RecordOutcome(CREATE, RecordStatus.SYNCED, "1", "2")


def test_a_long_run_on_a_terminal_gets_a_bar_per_tenant() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with progress_bars(console) as bars:
        long, short = bars.callback("acme"), bars.callback("beta")
        assert long is not None and short is not None
        long(5, PROGRESS_THRESHOLD, OUTCOME)
        short(1, PROGRESS_THRESHOLD - 1, OUTCOME)
        assert bars.progress is not None
        (task,) = bars.progress.tasks
        assert (task.description, task.completed, task.total) == (
            "acme: customer",
            5,
            PROGRESS_THRESHOLD,
        )


def test_no_bar_when_the_output_is_not_a_terminal() -> None:
    console = Console(file=io.StringIO(), force_terminal=False)
    with progress_bars(console) as bars:
        assert bars.callback("acme") is None
