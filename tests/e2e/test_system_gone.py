"""A system that goes away mid-sync: ``sync --once`` as a process, webCRM's emulator a process
killed while the first import runs, with the clients' real retry and timeout settings."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import tenant, write_tenant_config
from tests.support.servers import cli_process, cli_server
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.service import Connector

pytestmark = pytest.mark.e2e

#: Enough that the import (5 creates a second) outlasts the first write-back's retries.
ORGANISATIONS = 150


def _customer_creates(fortnox_url: str, tenant_id: int) -> int:
    rows = httpx.get(f"{fortnox_url}/_emulator/stats", params={"tenant": tenant_id}).json()
    return sum(
        row["count"]
        for row in rows["requests"]
        if row["method"] == "POST" and row["route"] == "/3/customers"
    )


async def _organisations(config: TenantConfig, count: int) -> None:
    async with Connector().clients(config) as clients:
        for n in range(count):
            await clients.webcrm.create_organisation(
                {"OrganisationName": f"Kund {n} AB", "OrganisationType": "Customer"}
            )


def test_webcrm_killed_mid_sync_stops_the_run_within_a_minute(tmp_path: Path) -> None:
    number = int.from_bytes(os.urandom(3), "big") + 10
    token = f"00000000-0000-4000-8000-{number:012d}"
    no_limit = ("--seed", "empty", "--no-rate-limit")
    with (
        cli_server("emulate", "fortnox", *no_limit) as fortnox_url,
        cli_process("emulate", "webcrm", *no_limit) as (webcrm_url, webcrm),
    ):
        httpx.post(f"{fortnox_url}/_emulator/tenants", json={"tenant_id": number, "seed": "empty"})
        httpx.post(f"{webcrm_url}/_emulator/tenants", json={"api_token": token, "seed": "empty"})
        config = tenant(
            name="acme",
            webcrm={"base_url": webcrm_url, "api_token": token},
            fortnox={"base_url": fortnox_url, "auth_url": fortnox_url, "tenant_id": number},
        )
        asyncio.run(_organisations(config, ORGANISATIONS))
        store = tmp_path / "state.db"
        path = write_tenant_config(tmp_path / "webcrm-fortnox.toml", f"sqlite:///{store}", config)
        # The sync keeps Fortnox's real 25 requests per 5 s, so the import takes about 30 s:
        # webCRM goes away a second into it, while customer numbers are being written back.
        sync = subprocess.Popen(
            [sys.executable, "-m", "webcrm_fortnox", "sync", "--once", "--config", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "250"},
        )
        try:
            deadline = time.monotonic() + 30
            while _customer_creates(fortnox_url, number) < 5:
                assert sync.poll() is None, sync.communicate()
                assert time.monotonic() < deadline, "the sync made no customers"
                time.sleep(0.05)
            webcrm.kill()
            gone = time.monotonic()
            out, err = sync.communicate(timeout=120)
            took = time.monotonic() - gone
        finally:
            if sync.poll() is None:
                sync.kill()
                sync.wait()

    assert sync.returncode == 1, out + err
    assert took < 60, f"gave up {took:.1f} s after webCRM went away"
    stopped = [line for line in out.splitlines() if "stopped:" in line]
    assert stopped == [
        f"acme: stopped: webCRM: no answer from {webcrm_url} (tenant[0].webcrm.base_url in "
        f"{path}): connection refused; check the address and that webCRM is reachable"
    ], out
    assert err == "", err
    assert "not attempted" in out, f"{took:.1f} s\n{out}"
    with sqlite3.connect(store) as db:
        reasons = [reason for (reason,) in db.execute("SELECT reason FROM record_errors")]
        (counts,) = db.execute("SELECT counts FROM runs WHERE entity = 'customer'").fetchone()
    assert reasons, "the records that got no answer are stored as failures"
    assert not [reason for reason in reasons if "refused it" in reason], reasons
    assert all("did not answer" in r or "no reliable answer" in r for r in reasons), reasons
    assert '"not_attempted"' in counts, counts
