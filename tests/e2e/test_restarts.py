"""``webcrm-fortnox run`` as a real process, stopped by SIGTERM or killed by SIGKILL and
started again: it carries on with each tenant's stored schedule, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import httpx
import pytest
import sqlalchemy as sa

from tests.e2e.harness import write_tenant_config
from tests.e2e.test_processes import (  # noqa: F401 (fixtures)
    config,
    fortnox_url,
    webcrm_fortnox,
    webcrm_url,
)
from tests.store.backends import BACKENDS, postgres_url
from tests.support.servers import free_port
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.service import Connector
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.service import Schedule, ServiceStore

pytestmark = pytest.mark.e2e

#: Generous: only reached when something is broken.
PATIENCE = 30.0


@pytest.fixture(params=BACKENDS)
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A state store URL as a configuration file holds it (PostgreSQL: in a schema of its own)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
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


def start_run(path: Path, port: int, output: IO[bytes]) -> subprocess.Popen[bytes]:
    command = ["run", "--config", str(path), "--metrics-port", str(port), "--no-feed"]
    return subprocess.Popen(
        [sys.executable, "-m", "webcrm_fortnox", *command],
        stdout=output,
        stderr=subprocess.STDOUT,
        env={**os.environ},
    )


async def until(check: object, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not await check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.1)


async def healthy(port: int, tenant: str) -> bool:
    try:
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{port}/healthz")
    except httpx.TransportError:
        return False
    return bool(answer.json()["tenants"].get(tenant, {}).get("state") == "ok")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_a_restarted_run_continues_each_tenants_schedule(
    config: TenantConfig,  # noqa: F811
    state_url: str,
    tmp_path: Path,
    stop: signal.Signals,
) -> None:
    tenant = config.model_copy(update={"sync_interval_seconds": 3600, "webcrm_poll_seconds": 3600})
    path = write_tenant_config(tmp_path / "sync.toml", state_url, tenant)
    async with await StateDatabase.open(state_url) as db:
        state, store = db.tenant(tenant.name), ServiceStore(db)

        async def schedule() -> Schedule | None:
            return await store.schedule(tenant.name)

        with tempfile.TemporaryFile() as output:
            port = free_port()
            first = start_run(path, port, output)
            try:
                await until(lambda: healthy(port, tenant.name), "the first cycle")
                await until(lambda: _next_cycle_moved(schedule), "the next cycle stored")
                before = await schedule()
                first.send_signal(stop)
                code = first.wait(PATIENCE)
            finally:
                first.kill()
            assert code == (0 if stop is signal.SIGTERM else -signal.SIGKILL)

            again = start_run(path, port := free_port(), output)
            try:
                await until(lambda: healthy(port, tenant.name), "the restart, healthy")
                await asyncio.sleep(1.0)  # a cycle due at start would be running by now
                cycles = await state.cycles()
                after = await schedule()
            finally:
                again.terminate()
                again.wait(PATIENCE)

    assert [(c.trigger, c.status) for c in cycles] == [("cycle", "completed")]
    assert before is not None and after is not None and before.next_cycle_at is not None
    assert after.next_cycle_at == before.next_cycle_at


async def _next_cycle_moved(schedule: object) -> bool:
    """The schedule stored after the first cycle: its next cycle an interval away. (The health
    is stored with the cycle, the schedule just after it, so "healthy" alone may still find
    the schedule of the cycle that was due at start.)"""
    stored: Schedule | None = await schedule()  # type: ignore[operator]
    soon = datetime.now(UTC) + timedelta(minutes=30)
    return stored is not None and stored.next_cycle_at is not None and stored.next_cycle_at > soon


async def test_a_cycle_cut_short_by_a_killed_run_is_closed_by_the_next_process(
    config: TenantConfig,  # noqa: F811
    state_url: str,
    tmp_path: Path,
) -> None:
    # Enough records that the first cycle (at the clients' own rate limits) takes a while.
    async with Connector().clients(config) as clients:
        for n in range(60):
            await clients.webcrm.create_organisation(
                {"OrganisationName": f"Kund {n:02d} AB", "OrganisationType": "Customer"}
            )
    tenant = config.model_copy(update={"sync_interval_seconds": 3600, "webcrm_poll_seconds": 3600})
    path = write_tenant_config(tmp_path / "sync.toml", state_url, tenant)
    async with await StateDatabase.open(state_url) as db:
        state = db.tenant(tenant.name)

        async def cycle_running() -> bool:
            return any(c.status == "running" for c in await state.cycles())

        with tempfile.TemporaryFile() as output:
            killed = start_run(path, free_port(), output)
            try:
                await until(cycle_running, "the first cycle under way")
                killed.send_signal(signal.SIGKILL)
                killed.wait(PATIENCE)
            finally:
                killed.kill()
        # The killed process's lease runs out (here at once, instead of a minute later).
        rows = t.tenant_schedules.c
        async with db.begin() as conn:
            await conn.execute(
                sa.update(t.tenant_schedules)
                .where(rows.tenant == tenant.name)
                .values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
            )

    once = webcrm_fortnox("sync", "--once", "--config", str(path))
    assert once.returncode == 0, once.stdout + once.stderr
    shown = webcrm_fortnox("status", "--json", "--config", str(path))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    cycles = json.loads(shown.stdout)["tenants"][0]["cycles"]
    assert [(c["trigger"], c["status"]) for c in cycles] == [
        ("once", "completed"),
        ("cycle", "interrupted"),
    ]
    assert cycles[1]["at"] is not None and "interrupted" in cycles[1]["message"]
