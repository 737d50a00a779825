"""Excluded records as rows: what each change leaves, and that unchanged ones are not rewritten."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.store.backends import BACKENDS, open_database
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.state import ExclusionChange


class SteppingClock:
    """A clock that moves one second per reading, so a rewrite shows in ``updated_at``."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateDatabase]:
    async for database in open_database(request.param, tmp_path, clock=SteppingClock()):
        yield database


async def rows(db: StateDatabase) -> list[tuple[object, ...]]:
    c = t.excluded_records.c
    query = sa.select(c.entity, c.webcrm_id, c.fortnox_id, c.reason, c.updated_at).order_by(c.id)
    async with db.engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(query)]


def excluded(webcrm_id: str | None, fortnox_id: str | None, reason: str) -> ExclusionChange:
    return ExclusionChange("article", webcrm_id, fortnox_id, excluded=True, reason=reason)


async def test_an_exclusion_found_again_unchanged_is_not_rewritten(db: StateDatabase) -> None:
    state = db.tenant("acme")
    await state.record_exclusions([excluded("7", None, "not created in Fortnox")])
    first = await rows(db)

    await state.record_exclusions([excluded("7", None, "not created in Fortnox")])

    assert await rows(db) == first
    assert len(first) == 1


async def test_a_changed_reason_or_partner_is_written(db: StateDatabase) -> None:
    state = db.tenant("acme")
    await state.record_exclusions([excluded("7", None, "not created in Fortnox")])

    await state.record_exclusions([excluded("7", None, "no price list")])
    await state.record_exclusions([excluded("7", "A-7", "no price list")])

    assert [row[:4] for row in await rows(db)] == [("article", "7", "A-7", "no price list")]


async def test_a_record_that_syncs_drops_the_rows_of_either_of_its_ids(db: StateDatabase) -> None:
    state = db.tenant("acme")
    await state.record_exclusions(
        [excluded("7", None, "not created in Fortnox"), excluded(None, "A-8", "no price list")]
    )

    await state.record_exclusions(
        [
            ExclusionChange("article", "7", "A-7", excluded=False),
            # nothing kept under these ids: nothing to drop
            ExclusionChange("article", "9", "A-9", excluded=False),
        ]
    )

    assert [row[:4] for row in await rows(db)] == [("article", None, "A-8", "no price list")]


async def test_changes_of_one_batch_apply_in_order(db: StateDatabase) -> None:
    state = db.tenant("acme")

    await state.record_exclusions(
        [
            excluded("7", None, "not created in Fortnox"),
            ExclusionChange("article", "7", None, excluded=False),
            excluded("7", None, "not created in Fortnox"),
        ]
    )

    assert [row[:4] for row in await rows(db)] == [("article", "7", None, "not created in Fortnox")]
