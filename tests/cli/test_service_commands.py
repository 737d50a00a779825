"""``conflicts --take`` and ``connect`` through the CLI entry, against the emulators in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cli.test_sync_commands import cli, config_file
from tests.e2e.harness import Systems, systems, tenant
from tests.service.support import browser, code_tenant, keyed_connector
from webcrm_fortnox.cli import CliContext, app
from webcrm_fortnox.store import StateDatabase


@pytest.fixture
async def env() -> AsyncIterator[Systems]:
    async with systems() as both:
        yield both


async def test_conflicts_take_writes_the_chosen_value_to_the_other_side(
    env: Systems, tmp_path: Path
) -> None:
    path = config_file(tmp_path, tenant(field_policy={"phone": {"conflict": "manual"}}))
    organisation = await env.organisation(OrganisationName="Tvist AB")
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 0
    (customer,) = await env.customers()
    number = customer["CustomerNumber"]
    await env.edit_organisation(organisation, OrganisationTelephone="08-111 11 11")
    await env.edit_customer(number, Phone1="08-222 22 22")
    env.clock.advance(120)
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 3
    async with await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}") as db:
        (conflict,) = await db.tenant("acme").conflicts(open_only=True)
    conflict_id = str(conflict.id)

    taken = await cli(
        env.connector, "conflicts", "--take", "fortnox", conflict_id, "--config", path
    )

    assert taken.exit_code == 0, taken.output
    assert "Fortnox's value kept on both sides" in taken.stdout
    data = await env.organisation_data(organisation)
    assert data["OrganisationTelephone"] == "08-222 22 22"
    still_open = await cli(env.connector, "conflicts", "--open", "--config", path)
    assert "08-111 11 11" not in still_open.stdout
    again = await cli(env.connector, "conflicts", "--take", "fortnox", "999", "--config", path)
    assert again.exit_code == 1 and "no open conflict 999" in again.stderr


async def test_connect_fortnox_through_the_cli_stores_tokens_status_then_shows_them(
    env: Systems, tmp_path: Path
) -> None:
    import asyncio

    from typer.testing import CliRunner

    path = config_file(tmp_path, code_tenant())
    connector = keyed_connector(env, tmp_path / "token.key")
    runner = CliRunner(env={"COLUMNS": "250"})
    # The browser runs on the test's loop (the emulators' home) while the command runs its own
    # loop in a thread.
    loop = asyncio.get_running_loop()

    async def open_url(url: str) -> None:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(browser(env)(url), loop))

    context = CliContext(connector, False, open_url)
    connected = await asyncio.to_thread(
        runner.invoke, app, ["connect", "fortnox", "--port", "0", "--config", path], obj=context
    )
    assert connected.exit_code == 0, connected.output
    assert "acme: Fortnox (Företaget 1 AB) is connected" in connected.stdout

    status = await cli(connector, "status", "--config", path)
    assert "authorization code (tokens stored encrypted)" in status.stdout
