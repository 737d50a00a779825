"""Two companies in one configuration and one state store never see each other.

``north`` (a service account of Fortnox company 1 and the first webCRM system) and ``south`` (its
own Fortnox integration, connected by authorization code to company 2, and a second webCRM system
with its own token) sync through the real command line. North gets a manual conflict; south a
record Fortnox rejects. Then each tenant's ``status --json``, ``errors`` and ``conflicts``, and
each tenant's rows in every table of the state store (links, cursors, intents, errors, conflicts,
runs, tokens, service state), must show that tenant's records only; and no credential of either
(configured secrets, issued access and refresh tokens) may appear in any output or row.

On SQLite, and on PostgreSQL when ``WEBCRM_FORTNOX_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from tests.e2e.harness import Systems, state_url, systems, tenant, write_tenant_config
from tests.reliability.taps import Tap
from tests.service.support import browser, keyed_connector
from webcrm_fortnox.cli import CliContext, app
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.fortnox.models import Customer
from webcrm_fortnox.service import Connector
from webcrm_fortnox.store import StateDatabase, schema
from webcrm_fortnox.store.database import create_engine

SOUTH_COMPANY = 2
SOUTH_TOKEN = "00000000-0000-4000-8000-00000000050c"
SOUTH_CLIENT = ("south-integration", "south-client-secret-0123456789")
# Fortnox refuses characters outside its allowed set (see tests/e2e/test_failures.py).
REFUSED_ADDRESS = "Sydgatan <2>"

#: What each tenant's records are called: none may show up in the other's output or rows.
MARKERS = {
    "north": ["Norrsken AB", "Norrbotten Trä AB", "Nordkap AB", "08-111 11 11", "08-222 22 22"],
    "south": ["Sydkust AB", "Söderslätt AB", "Sydpolen AB", REFUSED_ADDRESS],
}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The shared state store (PostgreSQL skips, saying how to run it, unless configured)."""
    with state_url(request.param, tmp_path) as value:
        yield value


@pytest.fixture
async def env() -> AsyncIterator[Systems]:
    async with systems() as both:
        await both.fortnox_api.post(
            "/_emulator/tenants",
            json={
                "tenant_id": SOUTH_COMPANY,
                "company_name": "Söder AB",
                "seed": "empty",
                "client_id": SOUTH_CLIENT[0],
                "client_secret": SOUTH_CLIENT[1],
            },
        )
        await both.webcrm_api.post(
            "/_emulator/tenants", json={"api_token": SOUTH_TOKEN, "seed": "empty"}
        )
        yield both


def tenants() -> dict[str, TenantConfig]:
    north = tenant(name="north", field_policy={"phone": {"conflict": "manual"}})
    south = tenant(
        name="south",
        webcrm={"api_token": SOUTH_TOKEN},
        fortnox={
            "auth": "authorization-code",
            "client_id": SOUTH_CLIENT[0],
            "client_secret": SOUTH_CLIENT[1],
            "tenant_id": None,
        },
    )
    return {"north": north, "south": south}


class Cli:
    """``webcrm-fortnox`` as a user runs it, against the in-process emulators."""

    def __init__(self, env: Systems, connector: Connector, config: Path) -> None:
        self.env = env
        self.connector = connector
        self.config = str(config)
        self.outputs: dict[str, list[str]] = defaultdict(list)

    async def __call__(self, *args: str, tenant: str | None = None) -> Result:
        runner = CliRunner(env={"COLUMNS": "250"})
        loop = asyncio.get_running_loop()

        async def approve(url: str) -> None:
            # The browser runs on the test's loop (the emulators' home).
            consent = browser(self.env, company=SOUTH_COMPANY)(url)
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(consent, loop))

        argv = [*args, "--config", self.config, *(["--tenant", tenant] if tenant else [])]
        context = CliContext(self.connector, False, approve)
        result = await asyncio.to_thread(runner.invoke, app, argv, obj=context)
        self.outputs[tenant or "all"].append(result.output)
        return result


async def arrange(env: Systems, configs: dict[str, TenantConfig]) -> dict[str, int]:
    """Records of both companies; returns north's organisation ids by name."""
    north = {
        name: await env.organisation(OrganisationName=name, OrganisationTelephone="08-000 00 00")
        for name in ("Norrsken AB", "Norrbotten Trä AB")
    }
    await env.customer(Name="Nordkap AB")
    # South's records, through an integration of its own (client credentials for company 2).
    arranging = configs["south"].model_copy(
        update={
            "fortnox": configs["south"].fortnox.model_copy(
                update={"auth": "service-account", "tenant_id": SOUTH_COMPANY}
            )
        }
    )
    async with env.connector.clients(arranging) as south:
        await south.webcrm.create_organisation(
            {"OrganisationName": "Sydkust AB", "OrganisationType": "Customer"}
        )
        await south.webcrm.create_organisation(
            {
                "OrganisationName": "Söderslätt AB",
                "OrganisationType": "Customer",
                "OrganisationCustom1": REFUSED_ADDRESS,
            }
        )
        await south.fortnox.customers.create(Customer(name="Sydpolen AB"))
    return north


async def rows_by_tenant(url: str) -> dict[str, list[tuple[str, str]]]:
    """Every row of every table of the state store, as text, under the tenant it belongs to."""
    engine = create_engine(url)
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    try:
        async with engine.connect() as conn:
            for table in schema.metadata.sorted_tables:
                if "tenant" not in table.c:
                    continue
                for row in (await conn.execute(sa.select(table))).mappings():
                    found[row["tenant"]].append((table.name, repr(dict(row))))
    finally:
        await engine.dispose()
    return found


async def test_two_tenants_in_one_store_never_see_each_other(
    env: Systems, url: str, tmp_path: Path
) -> None:
    sent: set[str] = set()

    async def collect(tap: Tap, number: int, request: httpx.Request) -> None:
        value = request.headers.get("authorization")
        if value:
            sent.add(value.split(" ", 1)[-1])

    for system in ("fortnox", "webcrm"):
        env.connector.transports[system] = Tap(env.connector.transports[system], collect)
    configs = tenants()
    path = write_tenant_config(tmp_path / "sync.toml", url, *configs.values())
    cli = Cli(env, keyed_connector(env, tmp_path / "token.key"), path)
    north_ids = await arrange(env, configs)

    connected = await cli("connect", "fortnox", "--port", "0", tenant="south")
    assert connected.exit_code == 0, connected.output
    first = await cli("sync", "--once")
    assert first.exit_code == 3, first.output  # south's rejected record
    [number] = [c["CustomerNumber"] for c in await env.customers() if c["Name"] == "Norrsken AB"]
    await env.edit_organisation(north_ids["Norrsken AB"], OrganisationTelephone="08-111 11 11")
    await env.edit_customer(number, Phone1="08-222 22 22")
    env.clock.advance(120)
    second = await cli("sync", "--once")
    assert second.exit_code == 3, second.output

    own: dict[str, dict[str, Any]] = {}
    for name in ("north", "south"):
        status = await cli("status", "--json", tenant=name)
        errors = await cli("errors", tenant=name)
        conflicts = await cli("conflicts", tenant=name)
        assert status.exit_code == 0, status.output
        [own[name]] = json.loads(status.stdout)["tenants"]
        own[name]["errors"], own[name]["conflicts"] = errors.stdout, conflicts.stdout
    everyone = json.loads((await cli("status", "--json")).stdout)["tenants"]

    # Each tenant's own view holds its own records ...
    assert [t["tenant"] for t in everyone] == ["north", "south"]
    for whole, name in zip(everyone, ("north", "south"), strict=True):
        assert whole["entities"] == own[name]["entities"], name
        assert whole["open_conflicts"] == own[name]["open_conflicts"], name
    north, south = own["north"], own["south"]
    assert north["tenant"] == "north" and south["tenant"] == "south"
    assert north["entities"]["customer"]["in_sync"] == 3
    assert north["entities"]["customer"]["failing"] == 0
    assert north["open_conflicts"] == 1
    assert south["entities"]["customer"]["in_sync"] == 2
    assert south["entities"]["customer"]["failing"] == 1
    assert south["open_conflicts"] == 0
    assert "no failing records" in north["errors"]
    assert "Söderslätt" in south["errors"] or REFUSED_ADDRESS in south["errors"]
    assert "08-111 11 11" in north["conflicts"] and "08-222 22 22" in north["conflicts"]
    assert "08-" not in south["conflicts"]
    assert south["connections"]["fortnox"] == "authorization code (tokens stored encrypted)"
    assert north["connections"]["fortnox"] == "service account"

    # ... and nothing of the other's: not in its commands' output ...
    for name, other in (("north", "south"), ("south", "north")):
        shown = "\n".join(cli.outputs[name])
        assert any(marker in shown for marker in MARKERS[name]), f"{name} shows no record"
        for marker in [*MARKERS[other], other]:
            assert marker not in shown, f"{other}'s {marker!r} shows in {name}'s output"

    # ... nor in its rows of the shared store, which hold what each tenant did.
    rows = await rows_by_tenant(url)
    assert set(rows) == {"north", "south"}, set(rows)
    for name, other in (("north", "south"), ("south", "north")):
        tables = {table for table, _ in rows[name]}
        assert {"links", "cursors", "runs"} <= tables, tables
        assert any(m in row for _, row in rows[name] for m in MARKERS[name]), name
        for table, row in rows[name]:
            for marker in MARKERS[other]:
                assert marker not in row, f"{other}'s {marker!r} is in {name}'s {table} row"
    assert "tokens" in {t for t, _ in rows["south"]} and "tokens" not in {
        t for t, _ in rows["north"]
    }
    assert "conflicts" in {t for t, _ in rows["north"]} and "conflicts" not in {
        t for t, _ in rows["south"]
    }
    assert "record_errors" in {t for t, _ in rows["south"]}
    assert not [r for t, r in rows["north"] if t == "record_errors" and "'open'" in r]

    # The store's own per-tenant reads agree: each tenant's links pair its own records, its
    # runs counted its own outcomes, and each has cursors of its own.
    async with await StateDatabase.open(url) as db:
        for name in ("north", "south"):
            state = db.tenant(name)
            names = {link.base.get("name") for link in await state.links("customer")}
            assert names and names <= set(MARKERS[name]), (name, names)
            runs = await state.runs(limit=100)
            failed = sum(run.counts.get("failed", 0) for run in runs)
            conflicts = sum(run.counts.get("conflict", 0) for run in runs)
            assert (failed > 0, conflicts > 0) == (
                (False, True) if name == "north" else (True, False)
            )
            for system in ("webcrm", "fortnox"):
                assert await state.cursor(system, "customer") is not None, (name, system)

    # No credential of either tenant, configured or issued, shows anywhere.
    credentials = {
        SOUTH_TOKEN,
        SOUTH_CLIENT[1],
        configs["north"].webcrm.api_token.get_secret_value(),
        configs["north"].fortnox.client_secret.get_secret_value(),
        base64.b64encode(f"{SOUTH_CLIENT[0]}:{SOUTH_CLIENT[1]}".encode()).decode(),
    } | {s for s in sent if len(s) >= 16}
    assert len(credentials) > 8, "tokens were issued to both tenants and used"
    everything = "\n".join(o for outs in cli.outputs.values() for o in outs)
    stored = "\n".join(row for tenant_rows in rows.values() for _, row in tenant_rows)
    for secret in credentials:
        assert secret not in everything, "a credential is in the command output"
        assert secret not in stored, "a credential is in the state store"
