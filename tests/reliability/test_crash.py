"""The crash test in its CI form: small data, a few SIGKILLs (in full: scripts/crash_test.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.crash import crash_run

pytestmark = pytest.mark.e2e


def test_sync_killed_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    figures = crash_run(
        tmp_path, organisations=15, customers=6, kills=5, max_delay=1.5, seed=7, run_timeout=120
    )
    assert figures.problems == [], figures.report()
    assert figures.kills == 5
    # At least one kill must have interrupted real work, or the test proves nothing.
    assert figures.kills_mid_work >= 1, figures.report()
