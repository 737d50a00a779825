"""``webcrm-fortnox worker`` as real processes on real PostgreSQL, against both emulators as
real processes: tenants cycle on the workers, one sync of a tenant at a time; a worker killed
mid-sync leaves its tenant to the other, which finishes it without a duplicate; a tenant that
cannot connect pauses alone; SIGTERM finishes the record in hand and exits 0."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import sqlalchemy as sa

from tests.e2e.harness import tenant, write_tenant_config
from tests.store.backends import postgres_url
from tests.support.servers import cli_server, free_port
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.service import Connector
from webcrm_fortnox.service.jobs import create_app, defer_syncs
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.state import CycleRecord

pytestmark = pytest.mark.e2e

#: Organisations each tenant's webCRM starts with: its first sync creates as many customers.
ORGANISATIONS = 20
#: Generous: only reached when something is broken.
PATIENCE = 60.0


@pytest.fixture(scope="module")
def fortnox_url() -> Iterator[str]:
    with cli_server("emulate", "fortnox", "--seed", "empty", "--no-rate-limit") as url:
        yield url


@pytest.fixture(scope="module")
def webcrm_url() -> Iterator[str]:
    with cli_server("emulate", "webcrm", "--seed", "empty", "--no-rate-limit") as url:
        yield url


@pytest.fixture
def state_url() -> Iterator[str]:
    """A PostgreSQL state store in a schema of its own, as a configuration file names it."""
    url = postgres_url()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def company(fortnox_url: str, webcrm_url: str, **overrides: Any) -> TenantConfig:
    """A tenant of a fresh company on both emulators."""
    number = int.from_bytes(os.urandom(3), "big") + 10
    token = f"00000000-0000-4000-8000-{number:012d}"
    httpx.post(f"{fortnox_url}/_emulator/tenants", json={"tenant_id": number, "seed": "empty"})
    httpx.post(f"{webcrm_url}/_emulator/tenants", json={"api_token": token, "seed": "empty"})
    fortnox = {
        "base_url": fortnox_url,
        "auth_url": fortnox_url,
        "ws_url": fortnox_url.replace("http", "ws") + "/topics-v1",
        "tenant_id": number,
        **overrides.pop("fortnox", {}),
    }
    return tenant(
        name=f"t{number}",
        webcrm={"base_url": webcrm_url, "api_token": token},
        fortnox=fortnox,
        **{"sync_interval_seconds": 10, **overrides},
    )


async def organisations(config: TenantConfig, count: int) -> None:
    async with Connector().clients(config) as clients:
        for n in range(count):
            await clients.webcrm.create_organisation(
                {"OrganisationName": f"{config.name} kund {n}", "OrganisationType": "Customer"}
            )


async def customer_names(config: TenantConfig) -> list[str]:
    async with Connector().clients(config) as clients:
        return sorted([c.name async for c in clients.fortnox.customers.iterate()])


async def faults(url: str, **settings: float) -> None:
    async with httpx.AsyncClient() as http:
        await http.put(f"{url}/_emulator/faults", json=settings)


def start_worker(path: Path, port: int, output: IO[bytes]) -> subprocess.Popen[bytes]:
    command = ["worker", "--config", str(path), "--metrics-port", str(port), "--concurrency", "2"]
    return subprocess.Popen(
        [sys.executable, "-m", "webcrm_fortnox", *command],
        stdout=output,
        stderr=subprocess.STDOUT,
        env={**os.environ},
    )


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.1)


async def running(port: int) -> dict[str, str]:
    """The tenants a worker syncs now (its ``/healthz``)."""
    try:
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{port}/healthz")
    except httpx.TransportError:
        return {}
    return dict(answer.json()["running"])


def overlapping(cycles: list[CycleRecord]) -> list[tuple[int, int]]:
    """Pairs of ended cycles of one tenant that ran at the same time."""
    ended = sorted((c for c in cycles if c.finished_at is not None), key=lambda c: c.started_at)
    return [
        (a.id, b.id)
        for a, b in itertools.pairwise(ended)
        if a.finished_at is not None and b.started_at < a.finished_at
    ]


@pytest.fixture
async def workers(
    state_url: str, tmp_path: Path
) -> AsyncIterator[Callable[[Path], tuple[subprocess.Popen[bytes], int]]]:
    """Starts worker processes on a configuration file; kills what is left at the end."""
    started: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryFile() as output:

        def start(path: Path) -> tuple[subprocess.Popen[bytes], int]:
            port = free_port()
            process = start_worker(path, port, output)
            started.append(process)
            return process, port

        try:
            yield start
        finally:
            for process in started:
                process.kill()
                process.wait()
            output.seek(0)
            print(output.read().decode(errors="replace")[-20_000:])  # shown when a test fails


async def test_a_killed_workers_tenant_syncs_on_the_other_without_a_duplicate(
    fortnox_url: str,
    webcrm_url: str,
    state_url: str,
    tmp_path: Path,
    workers: Callable[[Path], tuple[subprocess.Popen[bytes], int]],
) -> None:
    # A create the kill cut short is looked up and, not found, sent again by the next sync
    # (by default only after five minutes, in case it is still under way at the vendor).
    tenants = [company(fortnox_url, webcrm_url, unanswered_create_wait_seconds=0) for _ in range(3)]
    # Never connected to Fortnox: it pauses, alone.
    unconnected = company(
        fortnox_url, webcrm_url, fortnox={"auth": "authorization-code", "tenant_id": None}
    )
    for config in tenants:
        await organisations(config, ORGANISATIONS)
    path = write_tenant_config(tmp_path / "sync.toml", state_url, *tenants, unconnected)
    # Every Fortnox request slowed down: a first sync takes seconds, long enough to kill.
    await faults(fortnox_url, latency_ms=150)
    try:
        async with await StateDatabase.open(state_url) as db:
            (first, first_port), (second, _) = workers(path), workers(path)

            async def killable() -> bool:
                syncing = await running(first_port)
                for config in tenants:
                    if config.name in syncing and 2 <= len(await customer_names(config)) <= 10:
                        return True
                return False

            await until(killable, "the first worker halfway through a first sync")
            (victim,) = [c for c in tenants if c.name in await running(first_port)][:1]
            first.send_signal(signal.SIGKILL)
            first.wait(PATIENCE)
            killed_at = datetime.now(UTC)
            halfway = len(await customer_names(victim))
            assert 0 < halfway < ORGANISATIONS

            async def synced_again() -> bool:
                cycles = await db.tenant(victim.name).cycles(status="completed")
                return any(c.started_at > killed_at for c in cycles)

            await until(synced_again, "the killed worker's tenant synced on the other")
            recovered = datetime.now(UTC) - killed_at

            async def every_tenant_cycled_twice() -> bool:
                for config in tenants:
                    if len(await db.tenant(config.name).cycles(status="completed")) < 2:
                        return False
                return True

            await until(every_tenant_cycled_twice, "every connected tenant cycling")
            cycles = {c.name: await db.tenant(c.name).cycles(limit=100) for c in tenants}
            errors = {c.name: await db.tenant(c.name).open_errors() for c in tenants}
            paused = await db.tenant(unconnected.name).cycles()

            second.send_signal(signal.SIGTERM)
            assert second.wait(PATIENCE) == 0
    finally:
        await faults(fortnox_url)

    assert recovered.total_seconds() < 60
    for config in tenants:
        names = await customer_names(config)
        wanted = sorted(f"{config.name} kund {n}" for n in range(ORGANISATIONS))
        assert names == wanted, errors
        assert overlapping(cycles[config.name]) == []
    assert paused == []  # it never synced: it waits for `connect`


async def test_sigterm_stops_a_worker_after_the_record_in_hand_and_the_other_finishes(
    fortnox_url: str,
    webcrm_url: str,
    state_url: str,
    tmp_path: Path,
    workers: Callable[[Path], tuple[subprocess.Popen[bytes], int]],
) -> None:
    # No cycle within the test: only the jobs deferred here, and a stopped one deferred again.
    tenants = [company(fortnox_url, webcrm_url, sync_interval_seconds=3600) for _ in range(2)]
    for config in tenants:
        await organisations(config, ORGANISATIONS)
    path = write_tenant_config(tmp_path / "sync.toml", state_url, *tenants)
    await faults(fortnox_url, latency_ms=150)
    try:
        async with await StateDatabase.open(state_url) as db:
            (first, first_port), _ = workers(path), workers(path)
            async with db.begin() as conn:
                names = [c.name for c in tenants]
                await defer_syncs(create_app(state_url), conn, names, "webcrm poll")

            async def halfway() -> bool:
                syncing = await running(first_port)
                for config in tenants:
                    if config.name in syncing and 2 <= len(await customer_names(config)) <= 10:
                        return True
                return False

            await until(halfway, "the first worker halfway through a first sync")
            (stopped,) = [c for c in tenants if c.name in await running(first_port)][:1]
            first.send_signal(signal.SIGTERM)
            began = time.monotonic()
            code = first.wait(PATIENCE)
            stopping = time.monotonic() - began
            left = len(await customer_names(stopped))

            async def finished() -> bool:
                cycles = await db.tenant(stopped.name).cycles(status="completed")
                return bool(cycles)

            await until(finished, "the stopped sync finished by the other worker")
            finished_after = time.monotonic() - began
            cycles = await db.tenant(stopped.name).cycles(limit=100)
    finally:
        await faults(fortnox_url)

    assert code == 0
    assert stopping < 10  # a record or two at 150 ms a request, not the whole sync
    assert left < ORGANISATIONS
    assert "stopped" in {c.status for c in cycles}
    assert finished_after < 20  # deferred again at once: no waiting for a stalled job
    assert await customer_names(stopped) == sorted(
        f"{stopped.name} kund {n}" for n in range(ORGANISATIONS)
    )


async def test_a_worker_cut_off_from_postgresql_reconnects_by_itself(
    fortnox_url: str,
    webcrm_url: str,
    state_url: str,
    tmp_path: Path,
    workers: Callable[[Path], tuple[subprocess.Popen[bytes], int]],
) -> None:
    config = company(fortnox_url, webcrm_url)
    path = write_tenant_config(tmp_path / "sync.toml", state_url, config)
    async with await StateDatabase.open(state_url) as db:
        worker, _ = workers(path)

        async def cycled() -> bool:
            return bool(await db.tenant(config.name).cycles(status="completed"))

        await until(cycled, "a first cycle")
        # Every connection of the worker's job queue ends, as in a PostgreSQL restart.
        async with db.engine.connect() as conn:
            cut = await conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name"
                ),
                {"name": f"webcrm-fortnox worker {worker.pid}"},
            )
            assert len(cut.all()) >= 2  # the pool's and the listener's
        cut_at = datetime.now(UTC)

        async def cycled_again() -> bool:
            cycles = await db.tenant(config.name).cycles(status="completed")
            return any(c.started_at > cut_at for c in cycles)

        await until(cycled_again, "a cycle after the connections were cut")
        assert worker.poll() is None
