"""``connect``: the authorization-code flow, tokens encrypted at rest, rotation, licence checks."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from rich.console import Console

from tests.e2e.harness import Systems, systems, tenant
from tests.service.support import browser, code_tenant, keyed_connector
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.service import SyncOptions, run_tenant, sync_tenant
from webcrm_fortnox.service.connect import connect_fortnox, connect_webcrm
from webcrm_fortnox.service.connections import TenantClients
from webcrm_fortnox.service.runner import TenantRun
from webcrm_fortnox.service.vault import KeySource, TokenKeyError, TokenVault
from webcrm_fortnox.store import StateDatabase, TenantState
from webcrm_fortnox.store.service import ServiceStore


@pytest.fixture
async def env() -> AsyncIterator[Systems]:
    async with systems() as both:
        yield both


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[StateDatabase]:
    database = await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        yield database
    finally:
        await database.close()


def console() -> Console:
    return Console(width=200, record=True)


async def _sync(config: TenantConfig, state: TenantState, clients: TenantClients) -> TenantRun:
    return await sync_tenant(
        config, state, clients.webcrm, clients.fortnox, SyncOptions(now=clients.now)
    )


async def test_connect_stores_the_tokens_encrypted_and_the_sync_uses_them(
    env: Systems, db: StateDatabase, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys" / "token.key"
    connector = keyed_connector(env, key_file)
    config = code_tenant()
    vault = TokenVault(ServiceStore(db), KeySource(path=key_file))
    out = console()

    code = await connect_fortnox(config, connector, vault, out, open_url=browser(env), port=0)

    assert code == 0, out.export_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    grant = await vault.load(config.name)
    assert grant is not None and grant.token.refresh_token and grant.tenant_id == 1
    async with db.engine.connect() as conn:
        stored = (await conn.execute(sa.text("SELECT ciphertext FROM tokens"))).scalar_one()
    assert grant.token.refresh_token not in stored
    assert grant.token.access_token not in stored
    await env.customer(Name="Kund AB")
    run = await run_tenant(config, db, connector, _sync)
    assert run.exit_code == 0, run.reason
    assert [o["OrganisationName"] for o in await env.organisations()] == ["Kund AB"]


async def test_every_rotation_of_the_refresh_token_is_stored_before_use(
    env: Systems, db: StateDatabase, tmp_path: Path
) -> None:
    connector = keyed_connector(env, tmp_path / "token.key")
    config = code_tenant()
    vault = connector.vault(ServiceStore(db))
    assert vault is not None
    await connect_fortnox(config, connector, vault, console(), open_url=browser(env), port=0)
    before = await vault.load(config.name)
    assert before is not None and before.token.refresh_token is not None

    # An hour later every access token has expired: the next call rotates the refresh token.
    env.clock.advance(3700)
    assert (await run_tenant(config, db, connector, _sync)).exit_code == 0
    after = await vault.load(config.name)

    assert after is not None and after.token.refresh_token not in (None, before.token.refresh_token)
    assert after.tenant_id == before.tenant_id
    # The spent refresh token is refused by Fortnox; the stored one works in a new process.
    refused = await env.fortnox_api.post(
        "/oauth-v1/token",
        data={"grant_type": "refresh_token", "refresh_token": before.token.refresh_token},
        auth=("emulator", "emulator-secret"),
    )
    assert refused.status_code == 400
    env.clock.advance(3700)
    restarted = keyed_connector(env, tmp_path / "token.key")
    assert (await run_tenant(config, db, restarted, _sync)).exit_code == 0


async def test_tokens_without_their_key_are_a_clear_error(
    env: Systems, db: StateDatabase, tmp_path: Path
) -> None:
    key_file = tmp_path / "token.key"
    connector = keyed_connector(env, key_file)
    config = code_tenant()
    vault = connector.vault(ServiceStore(db))
    assert vault is not None
    await connect_fortnox(config, connector, vault, console(), open_url=browser(env), port=0)
    key_file.unlink()

    with pytest.raises(TokenKeyError, match=f"token key file {key_file} is missing"):
        await vault.load(config.name)
    run = await run_tenant(config, db, connector, _sync)
    assert run.stopped and "is missing" in str(run.reason)

    wrong = TokenVault(ServiceStore(db), KeySource(key="x" * 43 + "="))
    with pytest.raises(TokenKeyError, match="does not open the stored Fortnox tokens"):
        await wrong.load(config.name)


async def test_a_key_from_the_environment_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    keys = KeySource.from_environment({"WEBCRM_FORTNOX_TOKEN_KEY": key}, tmp_path / "c.toml")
    assert keys.path is None
    assert Fernet(key.encode()).decrypt(keys.fernet(create=True).encrypt(b"x")) == b"x"
    beside = KeySource.from_environment({}, tmp_path / "c.toml")
    assert beside.path == tmp_path / "webcrm-fortnox.key"


async def test_a_company_without_the_api_licence_is_told_what_to_buy(
    env: Systems, db: StateDatabase, tmp_path: Path
) -> None:
    await env.fortnox_api.post("/_emulator/tenants", json={"tenant_id": 2, "api_licence": False})
    connector = keyed_connector(env, tmp_path / "token.key")
    vault = connector.vault(ServiceStore(db))
    out = console()

    code = await connect_fortnox(
        code_tenant(), connector, vault, out, open_url=browser(env, company=2), port=0
    )

    assert code == 1
    text = out.export_text()
    assert "2001103" in text and "integration licence" in text


async def test_missing_scopes_are_named(env: Systems, db: StateDatabase, tmp_path: Path) -> None:
    scopes = ["companyinformation", "customer", "settings", "currency"]
    await env.fortnox_api.post("/_emulator/tenants", json={"tenant_id": 3, "scopes": scopes})
    connector = keyed_connector(env, tmp_path / "token.key")
    out = console()

    code = await connect_fortnox(
        code_tenant(),
        connector,
        connector.vault(ServiceStore(db)),
        out,
        open_url=browser(env, company=3),
        port=0,
    )

    assert code == 1
    text = out.export_text()
    assert "2000663" in text and "'article'" in text and "'order'" in text
    assert "'customer'" not in text


async def test_connect_webcrm_checks_the_token_and_the_plan(env: Systems) -> None:
    token = "00000000-0000-4000-8000-0000000000aa"
    await env.webcrm_api.post("/_emulator/tenants", json={"api_token": token, "api_access": False})
    out = console()

    assert await connect_webcrm(tenant(), env.connector, out) == 0, out.export_text()
    assert await connect_webcrm(tenant(webcrm={"api_token": token}), env.connector, out) == 1
    assert "PLUS or ENTERPRISE" in out.export_text()
    wrong = tenant(webcrm={"api_token": "00000000-0000-4000-8000-0000000000bb"})
    assert await connect_webcrm(wrong, env.connector, out) == 1
    assert "did not accept the API token" in out.export_text()
