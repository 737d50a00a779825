"""Fixtures of the service tests that run against both emulators live."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.service.live import Live, live, open_db
from webcrm_fortnox.store import StateDatabase


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Live]:
    async with live(tmp_path) as systems:
        yield systems


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[StateDatabase]:
    database = await open_db(tmp_path)
    try:
        yield database
    finally:
        await database.close()
