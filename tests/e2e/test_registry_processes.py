"""``webcrm-fortnox run`` as a process picks up a tenant that another process registers, and stops
it when that process removes it, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.harness import write_tenant_config
from tests.e2e.test_processes import config, fortnox_url, webcrm_fortnox, webcrm_url  # noqa: F401
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.service import Connector

pytestmark = pytest.mark.e2e

#: Generous: only reached when something is broken (no test measures time).
PATIENCE = 30.0


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.1)


def customers(tenant: TenantConfig) -> list[str]:
    async def names() -> list[str]:
        async with Connector().clients(tenant) as clients:
            return [str(c.name) async for c in clients.fortnox.customers.iterate()]

    return asyncio.run(names())


def log_records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_run_starts_a_tenant_registered_meanwhile_and_stops_it_when_removed(
    config: TenantConfig,  # noqa: F811
    url: str,
    tmp_path: Path,
) -> None:
    async def organisation() -> None:
        async with Connector().clients(config) as clients:
            await clients.webcrm.create_organisation(
                {"OrganisationName": "Registrerad AB", "OrganisationType": "Customer"}
            )

    asyncio.run(organisation())
    settings = tmp_path / "webcrm-fortnox.toml"
    settings.write_text(f'[state]\nurl = "{url}"\n')
    company = write_tenant_config(tmp_path / "company.toml", "sqlite:///unused.db", config)
    log = tmp_path / "run.log"
    command = [sys.executable, "-m", "webcrm_fortnox", "run", "--config", str(settings)]
    options = ["--metrics-port", "0", "--no-feed", "--registry-poll", "0.5"]
    with log.open("w") as stderr:
        service = subprocess.Popen([*command, *options], stderr=stderr)
    try:
        wait_for(lambda: any(r["message"] == "service started" for r in log_records(log)), "start")

        imported = webcrm_fortnox("tenants", "import", str(company), "--config", str(settings))
        assert imported.returncode == 0, imported.stderr
        wait_for(
            lambda: any(r["message"] == "tenant started" for r in log_records(log)), "picked up"
        )
        wait_for(lambda: customers(config) == ["Registrerad AB"], "the registered tenant synced")

        removed = webcrm_fortnox("tenants", "remove", config.name, "--config", str(settings))
        assert removed.returncode == 0, removed.stderr
        wait_for(lambda: any(r["message"] == "tenant stopped" for r in log_records(log)), "stop")
    finally:
        service.send_signal(signal.SIGTERM)
        code = service.wait(30)

    assert code == 0
    records = log_records(log)
    assert [r for r in records if r["level"] in ("ERROR", "CRITICAL")] == []
    assert config.webcrm.api_token.get_secret_value() not in log.read_text()
