"""``webcrm-fortnox sync --once`` as a real process against both emulators as real processes,
over HTTP on loopback, with a configuration file as a user writes it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import tenant, write_tenant_config, writes_in
from tests.support.servers import cli_server
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.fortnox.models import Customer
from webcrm_fortnox.service import Connector

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fortnox_url() -> Iterator[str]:
    with cli_server("emulate", "fortnox", "--seed", "empty", "--no-rate-limit") as url:
        yield url


@pytest.fixture(scope="module")
def webcrm_url() -> Iterator[str]:
    with cli_server("emulate", "webcrm", "--seed", "empty", "--no-rate-limit") as url:
        yield url


@pytest.fixture
def config(fortnox_url: str, webcrm_url: str) -> Iterator[TenantConfig]:
    """A tenant of a fresh company and a fresh system on the running emulators."""
    number = int.from_bytes(os.urandom(3), "big") + 10
    token = f"00000000-0000-4000-8000-{number:012d}"
    httpx.post(f"{fortnox_url}/_emulator/tenants", json={"tenant_id": number, "seed": "empty"})
    httpx.post(f"{webcrm_url}/_emulator/tenants", json={"api_token": token, "seed": "empty"})
    yield tenant(
        name=f"t{number}",
        webcrm={"base_url": webcrm_url, "api_token": token},
        fortnox={
            "base_url": fortnox_url,
            "auth_url": fortnox_url,
            "ws_url": fortnox_url.replace("http", "ws") + "/topics-v1",
            "tenant_id": number,
        },
    )


def webcrm_fortnox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webcrm_fortnox", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "250"},
        check=False,
    )


async def writes(config: TenantConfig) -> dict[str, int]:
    async with (
        httpx.AsyncClient(base_url=config.fortnox.base_url) as fortnox,
        httpx.AsyncClient(base_url=config.webcrm.base_url) as webcrm,
    ):
        return {"fortnox": await writes_in(fortnox), "webcrm": await writes_in(webcrm)}


async def reset_stats(config: TenantConfig) -> None:
    for base in (config.fortnox.base_url, config.webcrm.base_url):
        async with httpx.AsyncClient(base_url=base) as api:
            await api.delete("/_emulator/stats")


async def test_sync_once_over_loopback_then_nothing_to_write(
    config: TenantConfig, url: str, tmp_path: Path
) -> None:
    async with Connector().clients(config) as clients:
        organisation = await clients.webcrm.create_organisation(
            {"OrganisationName": "Acme AB", "OrganisationType": "Customer"}
        )
        await clients.fortnox.customers.create(Customer(name="Berg AB"))
    path = str(write_tenant_config(tmp_path / "webcrm-fortnox.toml", url, config))

    first = webcrm_fortnox("sync", "--once", "--config", path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Sync summary" in first.stdout
    async with Connector().clients(config) as clients:
        names = sorted([c.name async for c in clients.fortnox.customers.iterate()])
        assert names == ["Acme AB", "Berg AB"]
        stored = await clients.webcrm.get_organisation(organisation)
        assert stored.model_dump(by_alias=True)["OrganisationExtraCustom1"] == "2"
        assert len([o async for o in clients.webcrm.organisations()]) == 2

    await reset_stats(config)
    second = webcrm_fortnox("sync", "--once", "--config", path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert await writes(config) == {"fortnox": 0, "webcrm": 0}


async def test_a_rejected_record_exits_3_and_is_listed_by_errors(
    config: TenantConfig, url: str, tmp_path: Path
) -> None:
    async with Connector().clients(config) as clients:
        await clients.webcrm.create_organisation(
            {"OrganisationName": "Acme AB", "OrganisationType": "Customer"}
        )
        await clients.webcrm.create_organisation(
            {
                "OrganisationName": "Berg AB",
                "OrganisationType": "Customer",
                "OrganisationCustom1": "Gata <1>",
            }
        )
    path = str(write_tenant_config(tmp_path / "webcrm-fortnox.toml", url, config))
    result = webcrm_fortnox("sync", "--once", "--config", path)
    assert result.returncode == 3, result.stdout + result.stderr
    listed = webcrm_fortnox("errors", "--config", path)
    assert listed.returncode == 3
    assert "visiting_address" in listed.stdout and "2000359" in listed.stdout
    async with Connector().clients(config) as clients:
        assert [c.name async for c in clients.fortnox.customers.iterate()] == ["Acme AB"]
