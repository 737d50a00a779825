"""Running tenants: choosing them, isolating their failures, the state store, exit codes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.domain.tenants import make_tenant
from webcrm_fortnox.config import Config, TenantConfig
from webcrm_fortnox.service import (
    Connector,
    StateStoreError,
    TenantClients,
    TenantRun,
    UnknownTenantError,
    combined_exit_code,
    open_state,
    run_tenants,
    select_tenants,
)
from webcrm_fortnox.store import StateDatabase, TenantState


def config(*names: str) -> Config:
    return Config(tenant=[make_tenant(name=name) for name in names])


def test_all_tenants_or_the_one_named() -> None:
    both = config("acme", "beta")
    assert [t.name for t in select_tenants(both, None)] == ["acme", "beta"]
    assert [t.name for t in select_tenants(both, "beta")] == ["beta"]
    with pytest.raises(UnknownTenantError) as caught:
        select_tenants(both, "gamma")
    assert str(caught.value) == "no tenant named 'gamma' (tenants: acme, beta)"


def test_the_exit_code_of_several_tenants_is_the_worst() -> None:
    ok = TenantRun("a")
    stopped = TenantRun("b", message="webCRM: unreachable")
    assert combined_exit_code([]) == 0
    assert combined_exit_code([ok]) == 0
    assert combined_exit_code([ok, stopped]) == 1
    assert stopped.reason == "webCRM: unreachable"


async def test_read_only_does_not_create_a_missing_state_file(tmp_path: Path) -> None:
    file = tmp_path / "state.db"
    async with open_state(f"sqlite:///{file}", read_only=True) as db:
        assert await db.tenant("acme").links("customer") == []
    assert not file.exists()
    async with open_state(f"sqlite:///{file}") as db:
        await db.tenant("acme").set_cursor("webcrm", "customer", "c1")
    async with open_state(f"sqlite:///{file}", read_only=True) as db:
        assert await db.tenant("acme").cursor("webcrm", "customer") == "c1"


async def test_an_unopenable_store_is_named_without_its_password() -> None:
    url = "postgresql+psycopg://sync:hunter2@127.0.0.1:1/state"
    with pytest.raises(StateStoreError) as caught:
        async with open_state(url):
            pass
    assert str(caught.value) == (
        "cannot open the state store postgresql+psycopg://sync:***@127.0.0.1:1/state: "
        "connection refused"
    )


async def test_an_unopenable_sqlite_file_says_why_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no-such-folder' / 'state.db'}"
    with pytest.raises(StateStoreError) as caught:
        async with open_state(url):
            pass
    assert str(caught.value) == f"cannot open the state store {url}: unable to open database file"


async def test_a_defect_in_one_tenant_is_reported_and_the_others_run(tmp_path: Path) -> None:
    running = 0
    most = 0

    async def task(tenant: TenantConfig, state: TenantState, clients: TenantClients) -> TenantRun:
        nonlocal running, most
        running += 1
        most = max(most, running)
        # Long enough for the other tenant's clients (and their rate-limit handover) to open.
        await asyncio.sleep(0.2)
        running -= 1
        if tenant.name == "beta":
            raise KeyError("boom")
        assert state.tenant == tenant.name  # each sees only its own state
        return TenantRun(tenant.name)

    tenants = config("acme", "beta", "gamma", "delta").tenant
    async with await StateDatabase.open(f"sqlite:///{tmp_path / 's.db'}") as db:
        runs = await run_tenants(tenants, db, Connector(), task, concurrency=2)
    assert [r.tenant for r in runs] == ["acme", "beta", "gamma", "delta"]
    assert [r.exit_code for r in runs] == [0, 1, 0, 0]
    assert runs[1].message == "internal error: KeyError: 'boom'"
    assert most == 2
