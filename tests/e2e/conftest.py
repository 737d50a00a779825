"""End-to-end fixtures: both emulators in-process, and a state database on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Systems, state_url, systems
from webcrm_fortnox.store import StateDatabase


@pytest.fixture
async def env() -> AsyncIterator[Systems]:
    async with systems() as both:
        yield both


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The state store's URL; every test using it runs on SQLite and on PostgreSQL."""
    with state_url(request.param, tmp_path) as value:
        yield value


@pytest.fixture
async def db(url: str) -> AsyncIterator[StateDatabase]:
    database = await StateDatabase.open(url)
    try:
        yield database
    finally:
        await database.close()
