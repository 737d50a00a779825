"""What a command line is expected to do: --version, --config before or after the command, flags
shown as flags, and emulators that say how to reach them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.cli.test_sync_commands import cli, config_file
from tests.e2e.harness import Systems, systems
from webcrm_fortnox import __version__
from webcrm_fortnox.cli import app


@pytest.fixture
async def env() -> AsyncIterator[Systems]:
    async with systems() as both:
        yield both


def test_version_is_an_option_of_the_command() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"webcrm-fortnox {__version__}\n")


async def test_config_may_come_before_the_command(env: Systems, tmp_path: Path) -> None:
    await env.organisation(OrganisationName="Före AB")
    path = config_file(tmp_path)

    synced = await cli(env.connector, "--config", path, "sync", "--once")

    assert synced.exit_code == 0, synced.output
    assert [c["Name"] for c in await env.customers()] == ["Före AB"]
    listed = await cli(env.connector, "--config", path, "errors", "--json")
    assert listed.exit_code == 0, listed.output


COMMANDS = [
    [],
    ["plan"],
    ["sync"],
    ["match"],
    ["retry"],
    ["errors"],
    ["conflicts"],
    ["run"],
    ["status"],
    ["connect"],
    ["demo"],
    ["admin"],
    ["admin", "hash-password"],
    ["emulate", "fortnox"],
    ["emulate", "webcrm"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_help_shows_flags_as_flags(command: list[str]) -> None:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--help" in result.stdout
    assert "<bool>" not in result.stdout


@contextmanager
def emulator(*args: str) -> Iterator[tuple[str, str]]:
    """``webcrm-fortnox emulate ARGS`` on a free port: its address and its credentials line."""
    cmd = [sys.executable, "-m", "webcrm_fortnox", "emulate", *args, "--port", "0"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            address, credentials = proc.stdout.readline(), proc.stdout.readline()
            yield address.split(" on ")[1].strip(), credentials
        finally:
            proc.terminate()


def test_the_fortnox_emulator_prints_the_credentials_a_client_needs() -> None:
    args = ["--client-id", "id-1", "--client-secret", "s3cret", "--tenant-id", "7"]
    with emulator("fortnox", "--seed", "empty", *args) as (url, credentials):
        assert "client id id-1, client secret s3cret, tenant id 7" in credentials
        token = httpx.post(
            url + "/oauth-v1/token",
            data={"grant_type": "client_credentials"},
            auth=("id-1", "s3cret"),
            headers={"TenantId": "7"},
        )
    assert token.status_code == 200 and token.json()["access_token"]


def test_the_webcrm_emulator_prints_the_api_token_a_client_needs() -> None:
    api_token = "11111111-2222-4333-8444-555555555555"
    with emulator("webcrm", "--seed", "empty", "--api-token", api_token) as (url, credentials):
        assert f"API token {api_token}" in credentials
        login = httpx.post(url + "/Auth/ApiLogin", data={"authCode": api_token})
    assert login.status_code == 200 and login.json()["AccessToken"]
