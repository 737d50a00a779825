"""Fortnox's rate limit across processes: consecutive syncs of one tenant in two processes.

Fortnox counts 25 requests per sliding 5 s per client id and company, whichever process sends
them. Two ``sync --once`` processes run one after the other against a Fortnox emulator that
enforces the limit, on one PostgreSQL state store: the first ends with its window full, the
second starts at once and reads every customer again. Without the window handed over through the
store, the second bursts into the first's window and Fortnox answers 429.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from tests.domain.tenants import make_tenant
from tests.e2e.harness import state_url, write_tenant_config
from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.fortnox.emulator import create_app as fortnox_app
from webcrm_fortnox.service.http_server import serving
from webcrm_fortnox.webcrm.emulator import create_app as webcrm_app
from webcrm_fortnox.webcrm.emulator.state import DEFAULT_API_TOKEN

#: Enough customers that each sync spends more than one window (one full read each).
CUSTOMERS = 40


async def sync_process(config: Path, *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "webcrm_fortnox", "sync", "--once", *args, "--config", str(config),
        env=dict(os.environ), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode(errors="replace")


async def test_two_processes_alternating_syncs_of_one_tenant_meet_no_429(tmp_path: Path) -> None:
    clock = EmulatorClock()
    fortnox = fortnox_app(seed="empty", rate_limit=True, clock=clock)
    webcrm = webcrm_app(seed="empty", rate_limit=False, clock=clock)
    with state_url("postgresql", tmp_path) as url:
        async with (
            serving(fortnox, date_header=False) as fortnox_url,
            serving(webcrm, date_header=False) as webcrm_url,
            httpx.AsyncClient(base_url=fortnox_url) as api,
        ):
            seeded = {"tenant": "1", "customers": CUSTOMERS, "articles": 2, "orders": 0}
            (await api.post("/_emulator/seed", json={**seeded, "invoices": 0})).raise_for_status()
            tenant = make_tenant(
                webcrm={"api_token": DEFAULT_API_TOKEN, "base_url": webcrm_url},
                fortnox={"base_url": fortnox_url, "auth_url": fortnox_url},
            )
            config = write_tenant_config(tmp_path / "webcrm-fortnox.toml", url, tenant)
            await sync_process(config)  # the import: every customer read in full
            await sync_process(config, "--full")  # at once, every customer read again
            stats = (await api.get("/_emulator/stats")).json()["requests"]
    reads = sum(r["count"] for r in stats if r["route"] == "/3/customers/{key}")
    assert reads >= 2 * CUSTOMERS
    assert [r for r in stats if r["status"] == 429] == []
