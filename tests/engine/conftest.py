"""Engine tests run on a real state store: a SQLite file, and PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.engine.fakes import Systems
from tests.store.backends import BACKENDS, open_database
from webcrm_fortnox.store import StateDatabase, TenantState


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateDatabase]:
    async for database in open_database(request.param, tmp_path):
        yield database


@pytest.fixture
def state(db: StateDatabase) -> TenantState:
    return db.tenant("acme")


@pytest.fixture
def systems() -> Systems:
    return Systems()
