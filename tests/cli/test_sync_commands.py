"""The sync commands through the real CLI entry, against both emulators in-process.

The command runs in a worker thread (it starts its own event loop, as from a shell) while the
emulators stay in this test; Click's ``obj`` hands it a connector to them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.e2e.harness import Systems, systems, tenant, write_tenant_config
from webcrm_fortnox.cli import CliContext, app
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.service import Connector
from webcrm_fortnox.service.job import LEASE_SECONDS
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.service import ServiceStore

SECRET = "emulator-secret"


@pytest.fixture
async def env() -> AsyncIterator[Systems]:
    async with systems() as both:
        yield both


async def cli(
    connector: Connector,
    *args: str,
    interactive: bool | None = False,
    answers: str | None = None,
    environ: dict[str, str] | None = None,
) -> Result:
    """``webcrm-fortnox ARGS`` as a user runs it, reaching the emulators through ``connector``."""
    runner = CliRunner(env={"COLUMNS": "250", **(environ or {})})
    return await asyncio.to_thread(
        runner.invoke, app, list(args), obj=CliContext(connector, interactive), input=answers
    )


def config_file(tmp_path: Path, *tenants: TenantConfig, name: str = "sync.toml") -> str:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    return str(write_tenant_config(tmp_path / name, url, *(tenants or (tenant(),))))


# --- configuration and usage ---------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["plan"], ["sync", "--once"], ["match"], ["retry", "--all"], ["errors"], ["conflicts"]],
)
async def test_a_configuration_error_names_file_and_key(
    env: Systems, tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[tenant]]\nname = "acme"\ncustomer_types = ["Customer"]\n'
        '[tenant.webcrm]\napi_token = "t"\n[tenant.fortnox]\nclient_secret = "s"\ntenant_id = 1\n'
    )
    result = await cli(env.connector, *command, "--config", str(path))
    assert result.exit_code == 1
    assert f"{path}: tenant[0].fortnox.client_id: is required but missing" in result.stderr


async def test_the_environment_names_the_file_and_a_missing_one_is_explained(
    env: Systems, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.toml"
    result = await cli(env.connector, "errors", environ={"WEBCRM_FORTNOX_CONFIG": str(missing)})
    assert result.exit_code == 1
    assert f"{missing}: no such file" in result.stderr
    present = config_file(tmp_path)
    result = await cli(env.connector, "errors", environ={"WEBCRM_FORTNOX_CONFIG": present})
    assert result.exit_code == 1  # its state store, not yet created, is named
    assert f"{present}: state.url: no state store at {tmp_path / 'state.db'}" in result.stderr


async def test_sync_without_once_points_to_run(env: Systems, tmp_path: Path) -> None:
    result = await cli(env.connector, "sync", "--config", config_file(tmp_path))
    assert result.exit_code == 2
    assert "`webcrm-fortnox run` for the continuous service" in result.stderr


def test_sync_help_names_everything_it_syncs() -> None:
    shown = " ".join(
        CliRunner(env={"COLUMNS": "100"}).invoke(app, ["sync", "--help"]).stdout.split()
    )
    assert "Sync customers, articles and documents (deliveries, orders and invoices)" in shown
    assert "(see `errors` and `conflicts`)" in shown


async def test_an_unknown_tenant_is_refused(env: Systems, tmp_path: Path) -> None:
    result = await cli(env.connector, "plan", "--config", config_file(tmp_path), "--tenant", "x")
    assert result.exit_code == 1
    assert "no tenant named 'x' (tenants: acme)" in result.stderr


async def test_retry_needs_an_id_or_all(env: Systems, tmp_path: Path) -> None:
    path = config_file(tmp_path)
    assert (await cli(env.connector, "retry", "--config", path)).exit_code == 2
    missing = await cli(env.connector, "retry", "42", "--config", path)
    assert missing.exit_code == 1
    assert "no open error 42" in missing.stderr


# --- runs that cannot complete ---------------------------------------------------------------


async def test_authorization_code_tenants_are_told_to_connect_first(
    env: Systems, tmp_path: Path
) -> None:
    path = config_file(tmp_path, tenant(fortnox={"auth": "authorization-code"}))
    result = await cli(env.connector, "sync", "--once", "--config", path)
    assert result.exit_code == 1
    assert "not connected to Fortnox yet: run `webcrm-fortnox connect fortnox --tenant acme`" in (
        result.stdout
    )


async def test_a_refused_secret_stops_the_tenant_without_showing_it(
    env: Systems, tmp_path: Path
) -> None:
    wrong = "not-the-secret-4711"
    path = config_file(tmp_path, tenant(fortnox={"client_secret": wrong}))
    result = await cli(env.connector, "sync", "--once", "--config", path)
    assert result.exit_code == 1
    stopped = [line for line in result.stdout.splitlines() if "stopped:" in line]
    assert stopped == [
        "acme: stopped: Fortnox: the client credentials were refused (invalid_client: The client "
        f"credentials are invalid); check tenant[0].fortnox.client_secret in {path}, and "
        "fortnox.client_id and fortnox.tenant_id beside it"
    ]
    assert result.stderr == ""
    assert wrong not in result.output
    assert await env.customers() == []


async def test_a_refused_webcrm_token_names_its_setting(env: Systems, tmp_path: Path) -> None:
    wrong = "00000000-0000-4000-8000-000000004711"
    path = config_file(tmp_path, tenant(webcrm={"api_token": wrong}))
    result = await cli(env.connector, "sync", "--once", "--config", path)
    assert result.exit_code == 1
    (stopped,) = [line for line in result.stdout.splitlines() if "stopped:" in line]
    assert stopped.startswith("acme: stopped: webCRM: the API token was refused (")
    assert stopped.endswith(
        f"); check tenant[0].webcrm.api_token in {path} against the token in webCRM under "
        "Configuration → Integration → API → REST"
    )
    assert result.stderr == ""
    assert wrong not in result.output


async def test_an_unreachable_system_stops_the_run(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def no_wait(seconds: float) -> None:
        return None

    down = httpx.MockTransport(refuse)
    connector = Connector(sleep=no_wait, transports={"webcrm": down, "fortnox": down})
    result = await cli(connector, "sync", "--once", "--config", config_file(tmp_path))
    assert result.exit_code == 1
    assert "acme: stopped: webCRM:" in result.stdout


async def test_an_unreachable_system_is_named_by_the_tenant_setting_holding_its_address(
    env: Systems, tmp_path: Path
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    async def no_wait(seconds: float) -> None:
        return None

    second_token = "00000000-0000-4000-8000-000000000002"
    await env.webcrm_api.post(
        "/_emulator/tenants", json={"api_token": second_token, "seed": "empty"}
    )
    webcrm = env.connector.transports["webcrm"]
    connector = Connector(
        clock=env.clock,
        sleep=no_wait,
        transports={"webcrm": webcrm, "fortnox": httpx.MockTransport(refuse)},
    )
    other = tenant(name="beta", webcrm={"api_token": second_token})
    path = config_file(tmp_path, tenant(), other)
    result = await cli(connector, "sync", "--once", "--config", path)

    assert result.exit_code == 1
    stopped = [line for line in result.stdout.splitlines() if ": stopped: " in line]
    assert stopped == [
        f"{name}: stopped: Fortnox: no answer from https://apps.fortnox.se "
        f"(tenant[{index}].fortnox.auth_url in {path}): all connection attempts failed; "
        "check the address and that Fortnox is reachable"
        for index, name in enumerate(["acme", "beta"])
    ]


async def test_missing_webcrm_fields_stop_the_first_sync_with_what_to_create(
    env: Systems, tmp_path: Path
) -> None:
    path = config_file(tmp_path, tenant(fields={"fax": "OrganisationCustom12"}))
    await env.organisation(OrganisationName="Acme AB")
    result = await cli(env.connector, "sync", "--once", "--config", path)
    assert result.exit_code == 1
    assert "Create or change in webCRM's configuration" in result.stdout
    assert "create a custom field of kind text named 'Fax' as OrganisationCustom12" in result.stdout
    assert await env.customers() == []


async def test_one_failing_tenant_does_not_stop_the_others(env: Systems, tmp_path: Path) -> None:
    await env.fortnox_api.post("/_emulator/tenants", json={"tenant_id": 2, "seed": "empty"})
    second_token = "00000000-0000-4000-8000-000000000002"
    await env.webcrm_api.post(
        "/_emulator/tenants", json={"api_token": second_token, "seed": "empty"}
    )
    other = tenant(name="beta", webcrm={"api_token": second_token}, fortnox={"tenant_id": 2})
    broken = tenant(name="gamma", fortnox={"client_secret": "wrong"})
    await env.organisation(OrganisationName="Acme AB")
    path = config_file(tmp_path, tenant(), other, broken)
    result = await cli(env.connector, "sync", "--once", "--config", path)
    assert result.exit_code == 1
    assert "gamma: stopped" in result.stdout
    assert [c["Name"] for c in await env.customers()] == ["Acme AB"]
    # Each tenant reads only its own systems: beta's are empty, so it made nothing.
    assert "beta" in result.stdout
    again = await cli(env.connector, "sync", "--once", "--config", path, "--tenant", "acme")
    assert again.exit_code == 0


# --- plan, sync, errors, retry, conflicts --------------------------------------------------


async def test_plan_shows_the_actions_and_writes_nothing(env: Systems, tmp_path: Path) -> None:
    organisation = await env.organisation(OrganisationName="Acme AB", OrganisationTelephone="08-1")
    await env.organisation(OrganisationName="Kanske AB", OrganisationType="Prospect")
    await env.customer(Name="Holm AB")
    path = config_file(tmp_path)
    await env.reset_stats()
    result = await cli(env.connector, "plan", "--config", path)
    assert result.exit_code == 0, result.output
    assert "create in Fortnox" in result.stdout and "create in webCRM" in result.stdout
    assert "phone = '08-1'" in result.stdout
    assert "its Type (Prospect) is not one of the customer types that sync" in result.stdout
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}
    assert not (tmp_path / "state.db").exists()  # not even the state store was created

    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 0
    env.clock.advance(60)
    await env.edit_organisation(organisation, OrganisationTelephone="08-2")
    await env.reset_stats()
    result = await cli(env.connector, "plan", "--config", path)
    assert "Fortnox phone: '08-1' → '08-2'" in result.stdout
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}
    again = await cli(env.connector, "plan", "--config", path)
    assert "Fortnox phone: '08-1' → '08-2'" in again.stdout  # nothing was applied


async def test_sync_summary_errors_and_retry(env: Systems, tmp_path: Path) -> None:
    await env.organisation(OrganisationName="Acme AB")
    bad = await env.organisation(OrganisationName="Berg AB", OrganisationCustom1="Gata <1>")
    path = config_file(tmp_path)
    result = await cli(env.connector, "sync", "--once", "--config", path)
    assert result.exit_code == 3
    assert "Sync summary" in result.stdout
    assert "records needing attention" in result.stdout
    assert "Fortnox refused it" in result.stdout
    assert result.stdout.splitlines()[-1] == (
        "Some records need attention: see `webcrm-fortnox errors` and `retry`."
    )

    listed = await cli(env.connector, "errors", "--config", path)
    assert listed.exit_code == 3
    for shown in (
        f"customer webCRM {bad}",
        "Berg AB",
        "visiting_address",
        "2000359",
        "Värdet innehåller ej tillåtna tecken. (Gata <1>)",
        "Fortnox refused it:",
    ):
        assert shown in listed.stdout
    (error_id,) = re.findall(r"│\s*(\d+)\s*│\s*customer webCRM", listed.stdout)

    await env.edit_organisation(bad, OrganisationCustom1="Gata 1")
    retried = await cli(env.connector, "retry", error_id, "--config", path)
    assert retried.exit_code == 0, retried.output
    assert sorted(c["Name"] for c in await env.customers()) == ["Acme AB", "Berg AB"]
    cleared = await cli(env.connector, "errors", "--config", path)
    assert (cleared.exit_code, "acme: no failing records" in cleared.stdout) == (0, True)


async def test_errors_breaks_no_word_at_80_columns_into_a_pipe(
    env: Systems, tmp_path: Path
) -> None:
    await env.organisation(OrganisationName="Berg Konsult AB", OrganisationCustom1="Gata <1>")
    path = config_file(tmp_path)
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 3
    narrow = CliRunner(env={"COLUMNS": "80"})
    listed = await asyncio.to_thread(
        narrow.invoke, app, ["errors", "--config", path], obj=CliContext(env.connector)
    )
    assert listed.exit_code == 3
    async with await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}") as db:
        (error,) = await db.tenant("acme").open_errors()
    words = set(re.split(r"[\s│┃]+", listed.stdout))
    wanted = f"{error.reason} {error.vendor_message} {error.name}".split()
    assert [word for word in wanted if word not in words] == [], listed.stdout


async def test_conflicts_lists_both_values_and_open_ones(env: Systems, tmp_path: Path) -> None:
    config = tenant(field_policy={"phone": {"conflict": "manual"}, "fax": {"conflict": "webcrm"}})
    path = config_file(tmp_path, config)
    organisation = await env.organisation(OrganisationName="Acme AB")
    await cli(env.connector, "sync", "--once", "--config", path)
    (customer,) = await env.customers()
    env.clock.advance(60)
    await env.edit_organisation(organisation, OrganisationTelephone="1", OrganisationFax="3")
    await env.edit_customer(customer["CustomerNumber"], Phone1="2", Fax="4")
    result = await cli(env.connector, "sync", "--once", "--config", path)
    assert result.exit_code == 3
    assert result.stdout.splitlines()[-1] == (
        "Some records need attention: see `webcrm-fortnox conflicts` and `conflicts --take`."
    )
    every = await cli(env.connector, "conflicts", "--config", path)
    assert "phone" in every.stdout and "fax" in every.stdout
    assert "webCRM kept" in every.stdout and "open" in every.stdout
    open_only = await cli(env.connector, "conflicts", "--open", "--config", path)
    assert "phone" in open_only.stdout and "fax" not in open_only.stdout
    assert "'1'" in open_only.stdout and "'2'" in open_only.stdout


# --- match -----------------------------------------------------------------------------------


async def pairs_to_match(env: Systems) -> dict[str, Any]:
    first = await env.organisation(
        OrganisationName="Acme AB", OrganisationExtraCustom2="556036-0793"
    )
    second = await env.organisation(OrganisationName="Berg AB", OrganisationPostCode="111 22")
    one = await env.customer(Name="Acme Aktiebolag", OrganisationNumber="556036-0793")
    two = await env.customer(Name="Berg AB", ZipCode="111 22")
    return {"first": first, "second": second, "one": one, "two": two}


async def test_match_without_a_terminal_lists_and_records_nothing(
    env: Systems, tmp_path: Path
) -> None:
    await pairs_to_match(env)
    path = config_file(tmp_path)
    result = await cli(env.connector, "match", "--config", path, interactive=False)
    assert result.exit_code == 0
    assert "organisation number" in result.stdout and "name and postcode" in result.stdout
    assert "nothing recorded" in result.stdout
    again = await cli(env.connector, "match", "--config", path, interactive=False)
    assert "Acme Aktiebolag" in again.stdout


async def test_match_yes_records_every_unambiguous_pair(env: Systems, tmp_path: Path) -> None:
    ids = await pairs_to_match(env)
    path = config_file(tmp_path)
    result = await cli(env.connector, "match", "--yes", "--config", path)
    assert result.exit_code == 0
    assert "2 decision(s) recorded; `webcrm-fortnox sync --once` applies them" in result.stdout
    await env.reset_stats()
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 0
    # Paired, not duplicated: the only writes bring each pair's fields into agreement.
    assert len(await env.customers()) == 2 and len(await env.organisations()) == 2
    data = await env.organisation_data(ids["first"])
    assert data["OrganisationExtraCustom1"] == ids["one"]


async def test_match_asks_per_pair_on_a_terminal(env: Systems, tmp_path: Path) -> None:
    await pairs_to_match(env)
    path = config_file(tmp_path)
    result = await cli(
        env.connector, "match", "--config", path, interactive=True, answers="yes\nno\n"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Same customer?") == 2
    assert "2 decision(s) recorded" in result.stdout
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 0
    # The rejected pair was not linked: each side got its own copy of the other.
    assert len(await env.customers()) == 3 and len(await env.organisations()) == 3


async def test_sync_once_leaves_a_tenant_another_process_is_syncing_alone(
    env: Systems, tmp_path: Path
) -> None:
    path = config_file(tmp_path)
    await env.organisation(OrganisationName="Väntar AB", OrganisationType="Customer")
    async with await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}") as db:
        assert await ServiceStore(db).claim("acme", "a run elsewhere", LEASE_SECONDS)

    busy = await cli(env.connector, "sync", "--once", "--config", path)

    assert busy.exit_code == 1
    assert "another process is syncing the tenant" in busy.output
    assert await env.customers() == []
