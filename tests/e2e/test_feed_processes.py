"""``webcrm-fortnox feed`` as real processes beside a worker, on real PostgreSQL, against both
emulators as real processes: one feed process leads the integration, the other stands by; a
Fortnox change reaches webCRM through the feed and a job; the leader killed, the standby takes
over within seconds from the stored offsets, and a change made meanwhile is not lost; a webCRM
change reaches Fortnox through the feed process's poll."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.e2e.harness import write_tenant_config
from tests.e2e.test_workers import (  # noqa: F401 (fixtures)
    PATIENCE,
    company,
    fortnox_url,
    start_worker,
    state_url,
    until,
    webcrm_url,
)
from tests.support.servers import free_port
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.fortnox.models import Customer
from webcrm_fortnox.service import Connector
from webcrm_fortnox.store import StateDatabase

pytestmark = pytest.mark.e2e


def start_feed(path: Path, port: int, output: IO[bytes]) -> subprocess.Popen[bytes]:
    command = ["feed", "--config", str(path), "--metrics-port", str(port)]
    return subprocess.Popen(
        [sys.executable, "-m", "webcrm_fortnox", *command],
        stdout=output,
        stderr=subprocess.STDOUT,
        env={**os.environ},
    )


async def leading(port: int) -> dict[str, Any]:
    """The integrations a feed process leads, with whether their feed is live."""
    try:
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{port}/healthz")
    except httpx.TransportError:
        return {}
    return dict(answer.json()["leading"])


async def organisation_names(config: TenantConfig) -> list[str]:
    async with Connector().clients(config) as clients:
        return sorted([str(o.name) async for o in clients.webcrm.organisations()])


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


async def test_a_standby_feed_takes_over_from_the_stored_offsets(
    fortnox_url: str,  # noqa: F811
    webcrm_url: str,  # noqa: F811
    state_url: str,  # noqa: F811
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    # Only changes make syncs: no cycle within the test, webCRM polled every second.
    config = company(fortnox_url, webcrm_url, webcrm_poll_seconds=1)
    config = config.model_copy(update={"sync_interval_seconds": 3600})
    async with Connector().clients(config) as clients:
        number = (await clients.fortnox.customers.create(Customer(name="Berg AB"))).customer_number
    path = write_tenant_config(tmp_path / "sync.toml", state_url, config)
    client_id = config.fortnox.client_id
    with tempfile.TemporaryFile() as output:
        try:
            async with await StateDatabase.open(state_url) as db:
                ports = [free_port(), free_port()]
                processes.append(start_worker(path, free_port(), output))
                processes.extend(start_feed(path, port, output) for port in ports)

                async def one_leads_live() -> bool:
                    led = [await leading(port) for port in ports]
                    return sum(client_id in feeds for feeds in led) == 1 and any(
                        feeds.get(client_id, {}).get("live") for feeds in led
                    )

                await until(one_leads_live, "one feed process leading, its feed live")

                async def first_synced() -> bool:
                    return "Berg AB" in await organisation_names(config)

                await until(first_synced, "the first sync")
                async with Connector().clients(config) as clients:
                    await clients.fortnox.customers.update(number, Customer(name="Berg Nya AB"))

                async def announced_edit_arrived() -> bool:
                    return "Berg Nya AB" in await organisation_names(config)

                await until(announced_edit_arrived, "the Fortnox edit in webCRM, by the feed")

                leader = 0 if client_id in await leading(ports[0]) else 1
                processes[1 + leader].send_signal(signal.SIGKILL)
                processes[1 + leader].wait(PATIENCE)
                killed = time.monotonic()
                # Announced while nobody follows the feed: the successor replays it.
                async with Connector().clients(config) as clients:
                    await clients.fortnox.customers.update(number, Customer(name="Berg & Son AB"))

                standby = ports[1 - leader]

                async def taken_over() -> bool:
                    return bool((await leading(standby)).get(client_id, {}).get("live"))

                await until(taken_over, "the standby leading, its feed live")
                takeover = time.monotonic() - killed

                async def edit_arrived() -> bool:
                    return "Berg & Son AB" in await organisation_names(config)

                await until(edit_arrived, "the Fortnox edit in webCRM")

                async with Connector().clients(config) as clients:
                    await clients.webcrm.create_organisation(
                        {"OrganisationName": "Cederberg AB", "OrganisationType": "Customer"}
                    )

                async def polled_across() -> bool:
                    async with Connector().clients(config) as clients:
                        names = [c.name async for c in clients.fortnox.customers.iterate()]
                    return "Cederberg AB" in names

                await until(polled_across, "the webCRM organisation in Fortnox")
                cycles = await db.tenant(config.name).cycles(limit=100)
        finally:
            output.seek(0)
            print(output.read().decode(errors="replace")[-20_000:])

    assert takeover < 10
    assert {c.trigger for c in cycles} <= {
        "fortnox feed connected",
        "fortnox poll",
        "fortnox customers",
        "webcrm poll",
    }
    # The edit before the kill went by the feed; the one after, by the successor's feed (its
    # catch-up sync as it subscribes, the replayed event collapsing into that job).
    assert "fortnox customers" in {c.trigger for c in cycles}
