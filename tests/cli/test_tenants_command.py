"""``webcrm-fortnox tenants …`` through the real CLI, and the sync commands seeing registered
tenants, against both emulators in-process."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from tests.cli.test_sync_commands import cli, config_file
from tests.e2e.harness import Systems, tenant, write_tenant_config
from webcrm_fortnox.service import Connector
from webcrm_fortnox.service.vault import KeySource
from webcrm_fortnox.store import StateDatabase, schema
from webcrm_fortnox.store.feed import FeedSnapshot, FeedStore
from webcrm_fortnox.webcrm.emulator.state import DEFAULT_API_TOKEN

SECRET = "emulator-secret"


def keyed(env: Systems, tmp_path: Path) -> Connector:
    """The emulators' connector with a token key, as the CLI has beside its configuration."""
    base = env.connector
    return Connector(
        clock=base.clock,
        sleep=base.sleep,
        transports=base.transports,
        keys=KeySource(path=tmp_path / "webcrm-fortnox.key"),
    )


def state_only(tmp_path: Path) -> str:
    path = tmp_path / "sync.toml"
    path.write_text(f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n')
    return str(path)


ADD = [
    "tenants",
    "add",
    "acme",
    "--webcrm-token",
    DEFAULT_API_TOKEN,
    "--fortnox-client-id",
    "emulator",
    "--fortnox-client-secret",
    SECRET,
    "--fortnox-tenant-id",
    "1",
    "--customer-type",
    "Customer",
    "--set",
    "allow_insecure_http=true",
    "--set",
    "webcrm.base_url=http://webcrm.test",
    "--set",
    "fortnox.base_url='http://fortnox.test'",
    "--set",
    "fortnox.auth_url=http://fortnox.test",
]


async def test_a_registered_tenant_syncs_and_shows_without_a_table_in_the_file(
    env: Systems, tmp_path: Path
) -> None:
    connector = keyed(env, tmp_path)
    config = state_only(tmp_path)
    await env.organisation(OrganisationName="Registrerad AB", OrganisationType="Customer")

    added = await cli(connector, *ADD, "--config", config)
    synced = await cli(connector, "sync", "--once", "--config", config)
    listed = await cli(connector, "tenants", "list", "--json", "--config", config)
    shown = await cli(connector, "tenants", "show", "acme", "--config", config)

    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == "acme: added"
    assert synced.exit_code == 0, synced.output
    assert [c["Name"] for c in await env.customers()] == ["Registrerad AB"]
    assert listed.exit_code == 0
    (entry,) = json.loads(listed.stdout)
    assert (entry["name"], entry["source"], entry["state"]) == ("acme", "registry", "active")
    assert entry["fortnox"] == {"auth": "service-account", "client_id": "emulator", "tenant_id": 1}
    assert shown.exit_code == 0
    assert 'api_token = "(encrypted)"' in shown.stdout
    assert 'base_url = "http://fortnox.test"' in shown.stdout
    for result in (added, synced, listed, shown):
        assert SECRET not in result.output and DEFAULT_API_TOKEN not in result.output


async def test_a_paused_tenant_is_left_alone_until_resumed(env: Systems, tmp_path: Path) -> None:
    connector = keyed(env, tmp_path)
    config = state_only(tmp_path)
    await cli(connector, *ADD, "--config", config)
    await env.organisation(OrganisationName="Pausad AB", OrganisationType="Customer")

    paused = await cli(
        connector, "tenants", "pause", "acme", "--reason", "audit", "--config", config
    )
    named = await cli(connector, "sync", "--once", "--tenant", "acme", "--config", config)
    everyone = await cli(connector, "sync", "--once", "--config", config)
    listed = await cli(connector, "tenants", "list", "--json", "--config", config)

    assert paused.exit_code == 0
    assert named.exit_code == 1
    assert "tenant 'acme' is paused: `webcrm-fortnox tenants resume acme` first" in named.stderr
    assert everyone.exit_code == 1
    assert "no tenant is registered" in everyone.stderr
    assert await env.customers() == []
    assert [(t["state"], t["reason"]) for t in json.loads(listed.stdout)] == [("paused", "audit")]

    assert (await cli(connector, "tenants", "resume", "acme", "--config", config)).exit_code == 0
    assert (await cli(connector, "sync", "--once", "--config", config)).exit_code == 0
    assert [c["Name"] for c in await env.customers()] == ["Pausad AB"]


async def test_import_takes_a_company_file_all_or_none_naming_file_and_key(
    env: Systems, tmp_path: Path
) -> None:
    connector = keyed(env, tmp_path)
    config = state_only(tmp_path)
    company = write_tenant_config(tmp_path / "company.toml", "sqlite:///ignored.db", tenant())
    broken = tmp_path / "broken.toml"
    broken.write_text(
        company.read_text() + '\n[[tenant]]\nname = "beta"\ncustomer_types = ["Customer"]\n'
        '[tenant.webcrm]\napi_token = "t"\n[tenant.fortnox]\nclient_secret = "s"\ntenant_id = 2\n'
    )

    refused = await cli(connector, "tenants", "import", str(broken), "--config", config)
    empty = await cli(connector, "tenants", "list", "--json", "--config", config)
    imported = await cli(connector, "tenants", "import", str(company), "--config", config)
    again = await cli(connector, "tenants", "import", str(company), "--config", config)

    assert refused.exit_code == 1
    assert f"{broken}: tenant[1].fortnox.client_id: is required but missing" in refused.stderr
    assert json.loads(empty.stdout) == []  # acme was not imported either
    assert imported.exit_code == 0 and imported.stdout.strip() == "acme: added"
    assert again.exit_code == 0 and again.stdout.strip() == "acme: unchanged"


async def test_a_name_both_in_the_file_and_registered_is_one_clear_error(
    env: Systems, tmp_path: Path
) -> None:
    connector = keyed(env, tmp_path)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    company = write_tenant_config(tmp_path / "company.toml", url, tenant())
    config = state_only(tmp_path)
    assert (
        await cli(connector, "tenants", "import", str(company), "--config", config)
    ).exit_code == 0

    refused = await cli(connector, "tenants", "import", str(company), "--config", str(company))
    status = await cli(connector, "status", "--config", str(company))
    paused = await cli(connector, "tenants", "pause", "acme", "--config", str(company))

    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        f"{company}: acme: already a [[tenant]] of this file; a tenant is either in the file or "
        "registered, not both"
    )
    assert paused.exit_code == 1
    assert paused.stderr.strip() == (
        f"{company}: acme is a [[tenant]] of this file, not a registered tenant: change the file "
        "to stop it"
    )
    assert status.exit_code == 1
    assert status.stderr.strip() == (
        f"{company}: tenant[0].name: 'acme' is also a registered tenant; keep one: delete the "
        "table or `webcrm-fortnox tenants remove acme`"
    )


async def test_a_registered_tenant_that_cannot_be_loaded_is_skipped_and_named(
    env: Systems, tmp_path: Path
) -> None:
    connector = keyed(env, tmp_path)
    config = state_only(tmp_path)
    secret_from_env = [*ADD[:8], "env:ACME_FORTNOX_SECRET", *ADD[9:]]
    added = await cli(
        connector, *secret_from_env, "--config", config, environ={"ACME_FORTNOX_SECRET": SECRET}
    )
    await cli(connector, *[a if a != "acme" else "beta" for a in ADD], "--config", config)
    await env.organisation(OrganisationName="Hoppad AB", OrganisationType="Customer")

    synced = await cli(connector, "sync", "--once", "--config", config)
    named = await cli(connector, "sync", "--once", "--tenant", "acme", "--config", config)

    assert added.exit_code == 0, added.output
    reason = (
        "registered tenant acme: fortnox.client_secret: environment variable "
        "ACME_FORTNOX_SECRET is not set"
    )
    assert synced.exit_code == 1
    assert synced.stderr.strip() == f"skipped: {reason}"
    assert [c["Name"] for c in await env.customers()] == ["Hoppad AB"]  # beta synced
    assert named.exit_code == 1 and named.stderr.strip() == reason


async def test_status_shows_paused_and_removed_tenants_with_who_and_why(
    env: Systems, tmp_path: Path
) -> None:
    connector = keyed(env, tmp_path)
    config = state_only(tmp_path)
    await cli(connector, *ADD, "--config", config)
    await cli(connector, *[a if a != "acme" else "beta" for a in ADD], "--config", config)
    assert (await cli(connector, "sync", "--once", "--config", config)).exit_code == 0
    await cli(connector, "tenants", "pause", "acme", "--reason", "audit", "--config", config)
    await cli(connector, "tenants", "remove", "beta", "--reason", "left us", "--config", config)

    shown = await cli(connector, "status", "--json", "--config", config)
    plain = await cli(connector, "status", "--config", config)

    assert shown.exit_code == 0, shown.output
    statuses = {s["tenant"]: s for s in json.loads(shown.stdout)["tenants"]}
    assert {name: (s["state"], s["reason"]) for name, s in statuses.items()} == {
        "acme": ("paused", "paused by a person: audit"),
        "beta": ("removed", "removed by a person: left us"),
    }
    assert statuses["acme"]["paused"] == {
        "by": "a person (`webcrm-fortnox tenants pause`)",
        "reason": "audit",
        "until": "`webcrm-fortnox tenants resume acme`",
    }
    assert statuses["beta"]["last_cycle"]["status"] == "completed"  # its history is kept
    assert plain.exit_code == 0
    assert "acme: paused (paused by a person: audit)" in plain.stdout
    assert "paused by a person (`webcrm-fortnox tenants pause`) until" in plain.stdout


async def test_status_shows_a_tenant_paused_for_its_credentials_by_whom(
    env: Systems, tmp_path: Path
) -> None:
    path = config_file(tmp_path, tenant(webcrm={"api_token": "not-the-token"}))
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 1

    shown = await cli(env.connector, "status", "--json", "--config", path)

    (status,) = json.loads(shown.stdout)["tenants"]
    assert status["state"] == "reconnect needed"  # as the sync left it: not a person's pause
    assert status["paused"]["by"] == "sync --once"
    assert "webCRM" in status["paused"]["reason"]


async def test_removing_a_tenant_forgets_its_feed_announcements_and_purging_every_row(
    env: Systems, tmp_path: Path
) -> None:
    connector = keyed(env, tmp_path)
    config = state_only(tmp_path)
    await cli(connector, *ADD, "--config", config)
    assert (await cli(connector, "sync", "--once", "--config", config)).exit_code == 0
    async with await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}") as db:
        feed = FeedStore(db)
        await feed.joined("acme", "emulator")
        await feed.announce("acme", "customers", "7")
        assert (await feed.snapshot("acme")).announced == {"customers": frozenset({"7"})}

    removed = await cli(connector, "tenants", "remove", "acme", "--config", config)
    async with await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}") as db:
        after_remove = await FeedStore(db).snapshot("acme")
        cycles = await db.tenant("acme").cycles()
    purged = await cli(connector, "tenants", "remove", "acme", "--purge", "--config", config)
    async with await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}") as db:
        left = await _rows_of(db, "acme")

    assert removed.exit_code == 0 and purged.exit_code == 0, purged.output
    assert after_remove == FeedSnapshot()  # no announcement, no membership: nothing vouched
    assert len(cycles) == 1  # the history stays until purged
    assert left == {}


async def _rows_of(db: StateDatabase, tenant_name: str) -> dict[str, int]:
    """Rows of ``tenant_name`` per table that has any."""
    counts: dict[str, int] = {}
    async with db.engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            column = table.c.get("tenant", table.c.get("name"))
            if column is None:
                continue
            query = sa.select(sa.func.count()).select_from(table).where(column == tenant_name)
            found = int((await conn.execute(query)).scalar_one())
            if found:
                counts[table.name] = found
    return counts
