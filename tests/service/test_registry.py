"""The tenant registry on SQLite and PostgreSQL: secrets encrypted, merged with the file's
tenants, pause / remove / purge, and one clear error for a name that is both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.domain.tenants import make_tenant
from tests.store.backends import BACKENDS, open_database
from webcrm_fortnox.config import Config, TenantConfig
from webcrm_fortnox.config.tenant_tables import validate_tenant
from webcrm_fortnox.service.registry import Registry, RegistryError, merge_tenants
from webcrm_fortnox.service.vault import KeySource
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.registry import RegistryOutcome, TenantState

TOKEN = "webcrm-token-4b1f9c"
TABLE: dict[str, Any] = {
    "name": "acme",
    "customer_types": ["Customer"],
    "allow_insecure_http": True,
    "webcrm": {"api_token": "t" * 12},
    "fortnox": {"client_id": "emulator", "client_secret": "s" * 12, "tenant_id": 7},
}
SECRET = "fortnox-secret-77d2e0"


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateDatabase]:
    async for database in open_database(request.param, tmp_path):
        yield database


def registry(db: StateDatabase, tmp_path: Path, **environ: str) -> Registry:
    return Registry(db, KeySource(path=tmp_path / "token.key"), environ=environ)


def tenant(name: str = "acme", **overrides: object) -> TenantConfig:
    return make_tenant(
        name=name,
        webcrm={"api_token": TOKEN},
        fortnox={"client_secret": SECRET, "tenant_id": 7},
        **overrides,
    )


async def everything_stored(db: StateDatabase) -> str:
    """Every value of every row of every table, as one text."""
    parts: list[str] = []
    async with db.engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            for row in await conn.execute(sa.select(table)):
                parts.extend(str(value) for value in row)
    return "\n".join(parts)


async def test_a_registered_tenant_loads_as_registered_with_its_secrets_only_encrypted(
    db: StateDatabase, tmp_path: Path
) -> None:
    acme = tenant(sync_interval_seconds=600, delivery_target="invoice")
    outcome = await registry(db, tmp_path).register([acme], update=False)

    (loaded,) = await registry(db, tmp_path).tenants()

    assert outcome == {"acme": RegistryOutcome.ADDED}
    assert loaded.config == acme
    stored = await everything_stored(db)
    assert "acme" in stored and "invoice" in stored  # the settings are readable ...
    assert TOKEN not in stored and SECRET not in stored  # ... the secrets are not


async def test_an_env_reference_is_kept_and_resolved_by_the_loading_process(
    db: StateDatabase, tmp_path: Path
) -> None:
    environ = {"ACME_SECRET": SECRET}
    table = {**TABLE, "fortnox": {**TABLE["fortnox"], "client_secret": "env:ACME_SECRET"}}
    acme = validate_tenant(table, environ=environ)
    await Registry(db, KeySource(path=tmp_path / "k"), environ=environ).register(
        [acme], update=False
    )

    (here,) = await Registry(db, KeySource(path=tmp_path / "k"), environ=environ).tenants()
    (elsewhere,) = await Registry(db, KeySource(path=tmp_path / "k"), environ={}).tenants()

    assert here.config is not None
    assert here.config.fortnox.client_secret.get_secret_value() == SECRET
    assert elsewhere.config is None
    assert elsewhere.problem == (
        "tenant acme: fortnox.client_secret: environment variable ACME_SECRET is not set"
    )
    assert SECRET not in await everything_stored(db)


async def test_another_key_cannot_open_the_secrets_and_says_so(
    db: StateDatabase, tmp_path: Path
) -> None:
    await registry(db, tmp_path).register([tenant()], update=False)
    other = KeySource(path=tmp_path / "other.key")
    other.fernet(create=True)

    (wrong,) = await Registry(db, other, environ={}).tenants()
    (missing,) = await Registry(db, KeySource(path=tmp_path / "gone.key"), environ={}).tenants()

    assert wrong.config is None and missing.config is None
    assert wrong.problem is not None and "other.key does not open" in wrong.problem
    assert missing.problem is not None and "gone.key is missing" in missing.problem


async def test_adding_a_taken_name_stores_nothing_and_importing_updates(
    db: StateDatabase, tmp_path: Path
) -> None:
    reg = registry(db, tmp_path)
    await reg.register([tenant()], update=False)

    with pytest.raises(RegistryError, match="already registered: acme"):
        await reg.register([tenant("beta"), tenant()], update=False)
    assert [r.name for r in await reg.tenants()] == ["acme"]  # not beta either: all or none

    outcomes = await reg.register(
        [tenant("beta"), tenant(sync_interval_seconds=900)],
        update=True,
    )
    again = await reg.register([tenant("beta")], update=True)

    assert outcomes == {"beta": RegistryOutcome.ADDED, "acme": RegistryOutcome.UPDATED}
    assert again == {"beta": RegistryOutcome.UNCHANGED}
    loaded = {r.name: r for r in await reg.tenants()}
    assert loaded["acme"].config is not None
    assert loaded["acme"].config.sync_interval_seconds == 900
    assert loaded["acme"].row.version == 2 and loaded["beta"].row.version == 1


async def test_remove_keeps_the_history_until_purged_and_resume_brings_it_back(
    db: StateDatabase, tmp_path: Path
) -> None:
    reg = registry(db, tmp_path)
    await reg.register([tenant(), tenant("beta")], update=False)
    await db.tenant("acme").save_link("customer", "17", "1001", {"name": "Acme"})
    await db.tenant("beta").save_link("customer", "18", "1002", {"name": "Beta"})

    with pytest.raises(RegistryError, match="only a removed tenant can be purged"):
        await reg.purge("acme")
    await reg.set_state("acme", TenantState.REMOVED, "contract ended")
    assert [r.name for r in await reg.tenants()] == ["beta"]
    assert len(await db.tenant("acme").links("customer")) == 1  # history kept

    await reg.set_state("acme", TenantState.ACTIVE)
    assert [r.name for r in await reg.tenants()] == ["acme", "beta"]

    await reg.set_state("acme", TenantState.REMOVED)
    await reg.purge("acme")
    assert await db.tenant("acme").links("customer") == []
    assert [r.name for r in await reg.tenants(removed=True)] == ["beta"]
    assert len(await db.tenant("beta").links("customer")) == 1  # the others' untouched
    with pytest.raises(RegistryError, match="no registered tenant named 'gamma'"):
        await reg.set_state("gamma", TenantState.PAUSED)


async def test_the_file_and_the_registry_merge_and_a_name_in_both_is_an_error(
    db: StateDatabase, tmp_path: Path
) -> None:
    reg = registry(db, tmp_path)
    await reg.register([tenant("beta"), tenant("gamma")], update=False)
    await reg.set_state("gamma", TenantState.PAUSED, "on holiday")
    config = Config(tenant=[tenant("acme")])
    file = Path("sync.toml")

    merged = merge_tenants(config, file, await reg.tenants())

    assert [t.name for t in merged] == ["acme", "beta"]  # gamma is paused
    await reg.register([tenant("acme")], update=False)
    with pytest.raises(RegistryError) as raised:
        merge_tenants(config, file, await reg.tenants())
    assert str(raised.value) == (
        "sync.toml: tenant[0].name: 'acme' is also a registered tenant; keep one: delete the "
        "table or `webcrm-fortnox tenants remove acme`"
    )
