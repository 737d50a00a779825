"""Reliability fixtures: both emulators in-process on one clock, a SQLite state store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.harness import Systems, systems
from webcrm_fortnox.store import StateDatabase


@pytest.fixture
async def env() -> AsyncIterator[Systems]:
    async with systems() as both:
        yield both


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[StateDatabase]:
    # SQLite only: the store's behaviour on PostgreSQL is proven by the store and e2e suites;
    # these tests are about the systems misbehaving.
    database = await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        yield database
    finally:
        await database.close()
