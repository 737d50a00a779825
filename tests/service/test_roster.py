"""What a running service starts and stops as the registry changes (:class:`Roster`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.domain.tenants import make_tenant
from tests.store.backends import BACKENDS, open_database
from webcrm_fortnox.config.tenant_tables import validate_tenant
from webcrm_fortnox.service.registry import Registry
from webcrm_fortnox.service.roster import Roster
from webcrm_fortnox.service.vault import KeySource
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.registry import TenantState


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateDatabase]:
    async for database in open_database(request.param, tmp_path):
        yield database


async def test_changes_start_new_stop_paused_and_restart_edited_tenants(
    db: StateDatabase, tmp_path: Path
) -> None:
    registry = Registry(db, KeySource(path=tmp_path / "k"), environ={})
    roster = Roster(registry, fixed=["filed"], only=None)
    await registry.register(
        [make_tenant(name="acme"), make_tenant(name="beta"), make_tenant(name="filed")],
        update=False,
    )

    first = await roster.changes()
    idle = await roster.changes()
    await registry.set_state("beta", TenantState.PAUSED)
    await registry.register([make_tenant(name="acme", sync_interval_seconds=900)], update=True)
    edited = await roster.changes()

    # "filed" is a tenant of the configuration file: the registry's of that name never runs.
    assert ([t.name for t in first.start], first.stop) == (["acme", "beta"], [])
    assert (idle.start, idle.stop) == ([], [])
    assert sorted(edited.stop) == ["acme", "beta"]
    assert [(t.name, t.sync_interval_seconds) for t in edited.start] == [("acme", 900)]
    assert roster.running == {"acme": 2}


async def test_a_tenant_that_cannot_be_loaded_is_said_once_per_version(
    db: StateDatabase, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = KeySource(path=tmp_path / "k")
    table = {
        "name": "acme",
        "customer_types": ["Customer"],
        "webcrm": {"api_token": "env:ACME_TOKEN"},
        "fortnox": {"client_id": "c", "client_secret": "s" * 8, "tenant_id": 1},
    }
    environ = {"ACME_TOKEN": "t" * 8}
    await Registry(db, keys, environ=environ).register(
        [validate_tenant(table, environ=environ)], update=False
    )
    roster = Roster(Registry(db, keys, environ={}), only="acme")

    with caplog.at_level(logging.ERROR):
        assert (await roster.changes()).start == []
        assert (await roster.changes()).start == []
    assert [r.getMessage() for r in caplog.records] == [
        "a registered tenant cannot be loaded; it is not run"
    ]

    roster.registry.environ = environ  # the variable is set now, and the tenant re-registered
    await Registry(db, keys, environ=environ).set_state("acme", TenantState.ACTIVE)
    assert [t.name for t in (await roster.changes()).start] == ["acme"]
