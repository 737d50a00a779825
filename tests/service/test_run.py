"""``run``: graceful shutdown without loss, pause and catch-up after reconnecting, secret-free
logs, and the health server."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from tests.domain.tenants import make_tenant
from tests.e2e.harness import systems
from tests.e2e.harness import tenant as harness_tenant
from tests.service.live import Live, eventually, quick, running
from tests.service.support import browser
from webcrm_fortnox.service import Connector
from webcrm_fortnox.service.connect import connect_fortnox
from webcrm_fortnox.service.daemon import SyncService
from webcrm_fortnox.service.http_server import free_port
from webcrm_fortnox.service.logs import Redactor, setup_logging
from webcrm_fortnox.service.runner import TenantPlace
from webcrm_fortnox.service.status import tenant_status
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.service import ServiceStore
from webcrm_fortnox.webcrm.emulator.state import DEFAULT_API_TOKEN


async def test_stopping_mid_run_finishes_the_record_in_hand_and_loses_nothing(
    env: Live, db: StateDatabase
) -> None:
    for n in range(30):
        await env.systems.organisation(OrganisationName=f"Kund {n:02d} AB")
    config = env.tenant(webcrm_poll_seconds=3600)
    state = db.tenant(config.name)
    service = SyncService([config], db, env.connector(), quick(feed=False))
    task = asyncio.create_task(service.run())

    async def some_linked() -> bool:
        return len(await state.links("customer")) >= 5

    await eventually(some_linked, "the import under way")
    service.stop()
    assert await asyncio.wait_for(task, 20) == 0

    linked = await state.links("customer")
    customers = await env.systems.customers()
    assert 5 <= len(linked) < 30  # it stopped mid-run ...
    assert await state.pending_intents("customer") == []  # ... after the record in hand
    assert len(customers) == len(linked)  # every customer created is linked

    again = SyncService([config], db, env.connector(), quick(feed=False))
    async with running(again):
        await eventually(
            lambda: _true(next(iter(again.workers.values())).syncs >= 1), "the next sync"
        )
    assert len(await state.links("customer")) == 30
    names = sorted(c["Name"] for c in await env.systems.customers())
    assert names == [f"Kund {n:02d} AB" for n in range(30)]  # none twice, none missing


async def test_a_revoked_grant_pauses_the_tenant_and_reconnecting_catches_up(
    env: Live, db: StateDatabase
) -> None:
    connector = env.connector()
    config = env.tenant(fortnox={"auth": "authorization-code", "tenant_id": None})
    vault = connector.vault(ServiceStore(db))
    assert vault is not None
    out = Console(record=True, width=200)
    assert (
        await connect_fortnox(config, connector, vault, out, open_url=browser(env.systems), port=0)
        == 0
    ), out.export_text()
    service = SyncService([config], db, connector, quick())
    worker = service.workers[config.name]
    async with running(service):
        await eventually(lambda: _true(worker.syncs >= 1), "the first sync")
        await env.systems.organisation(OrganisationName="Före AB")
        await eventually(lambda: _customer(env, "Före AB"), "the first organisation synced")
        await eventually(lambda: _true(worker.idle), "the tenant idle")
        cursor = await db.tenant(config.name).cursor("webcrm", "customer")
        # The company revokes the integration (the refresh token dies); an hour later the
        # access token expires too.
        grant = await vault.load(config.name)
        assert grant is not None and grant.token.refresh_token
        await env.systems.fortnox_api.post(
            "/oauth-v1/revoke",
            data={"token_type_hint": "refresh_token", "token": grant.token.refresh_token},
            auth=("emulator", "emulator-secret"),
        )
        env.systems.clock.advance(3700)
        await env.systems.organisation(OrganisationName="Under pausen AB")

        async def paused() -> bool:
            status = await tenant_status(db, config, vault)
            return bool(status["state"] == "reconnect needed")

        await eventually(paused, "status showing reconnect needed")
        assert await db.tenant(config.name).cursor("webcrm", "customer") == cursor
        assert not await _customer(env, "Under pausen AB")

        assert (
            await connect_fortnox(
                config, connector, vault, out, open_url=browser(env.systems), port=0
            )
            == 0
        )
        await eventually(lambda: _customer(env, "Under pausen AB"), "the catch-up after connect")

        async def healthy() -> bool:
            return bool((await tenant_status(db, config, vault))["state"] == "ok")

        await eventually(healthy, "status ok again")


async def test_a_debug_run_logs_no_secret(env: Live, db: StateDatabase) -> None:
    config = env.tenant()
    stream = io.StringIO()
    redactor = Redactor([DEFAULT_API_TOKEN, config.fortnox.client_secret.get_secret_value()])
    handler = setup_logging(redactor, level=logging.DEBUG, stream=stream)
    try:
        service = SyncService([config], db, env.connector(), quick())
        async with running(service):
            worker = service.workers[config.name]
            await eventually(
                lambda: _true(worker.syncs >= 1 and service.feeds[0].live), "feed and first sync"
            )
            number = await env.systems.customer(Name="Hemlig AB")
            await eventually(lambda: _organisation(env, "Hemlig AB"), "the customer in webCRM")
            await env.systems.edit_customer(number, Phone1="08-99 88 77")
            await env.systems.organisation(OrganisationName="Också hemlig AB")
            await eventually(lambda: _customer(env, "Också hemlig AB"), "the org in Fortnox")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
    output = stream.getvalue()
    lines = output.splitlines()
    assert len(lines) > 50 and all(json.loads(line)["level"] for line in lines)
    assert any('"logger": "httpx"' in line for line in lines)  # HTTP traffic was logged ...
    secrets = {DEFAULT_API_TOKEN, config.fortnox.client_secret.get_secret_value()}
    fortnox = env.apps["fortnox"].state.fortnox.kit.storage
    secrets |= set(fortnox.table("_auth", "access")) | set(fortnox.table("_auth", "refresh"))
    webcrm = env.apps["webcrm"].state.webcrm.kit.storage
    secrets |= set(webcrm.table("_webcrm", "access_tokens"))
    assert len(secrets) >= 4
    leaked = [secret for secret in secrets if secret in output]
    assert leaked == []  # ... and no token, secret or password in it


async def test_metrics_and_health_are_served(env: Live, db: StateDatabase) -> None:
    port = free_port()
    service = SyncService([env.tenant()], db, env.connector(), quick(metrics_port=port))
    async with running(service):
        worker = next(iter(service.workers.values()))
        await env.systems.organisation(OrganisationName="Mätbar AB")
        await eventually(lambda: _customer(env, "Mätbar AB"), "the org in Fortnox")
        await eventually(lambda: _true(worker.idle and worker.health == "ok"), "an idle tenant")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            metrics = (await http.get("/metrics")).text
            health = await http.get("/healthz")
    assert 'webcrm_fortnox_api_calls_total{system="fortnox",tenant="acme"}' in metrics
    assert 'webcrm_fortnox_records_total{entity="customer",status="synced",tenant="acme"}' in (
        metrics
    )
    assert "webcrm_fortnox_last_successful_sync_timestamp_seconds" in metrics
    assert 'webcrm_fortnox_propagation_lag_seconds_count{direction="webcrm->fortnox"' in metrics
    assert health.status_code == 200
    assert health.json()["tenants"]["acme"]["state"] == "ok"


async def _customer(env: Live, name: str) -> bool:
    return any(c["Name"] == name for c in await env.systems.customers())


async def _organisation(env: Live, name: str) -> bool:
    return any(o["OrganisationName"] == name for o in await env.systems.organisations())


async def _true(value: bool) -> bool:
    return value


async def test_a_tenant_of_an_unreachable_system_names_the_setting_and_file(
    db: StateDatabase,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    async def no_wait(seconds: float) -> None:
        return None

    down = httpx.MockTransport(refuse)
    connector = Connector(sleep=no_wait, transports={"webcrm": down, "fortnox": down})
    place = TenantPlace(Path("conf/webcrm-fortnox.toml"), 2)
    options = quick(feed=False, places={"acme": place})
    service = SyncService(
        [make_tenant(webcrm={"api_token": DEFAULT_API_TOKEN})], db, connector, options
    )
    worker = service.workers["acme"]

    async def failing() -> bool:
        return worker.reason is not None

    async with running(service):
        await eventually(failing, "the tenant failing")

    assert worker.reason == (
        "webCRM: no answer from https://api.webcrm.com (tenant[2].webcrm.base_url in "
        f"{place.file}): all connection attempts failed; check the address and that webCRM is "
        "reachable"
    )


class _WritesRefused(httpx.AsyncBaseTransport):
    """webCRM that answers reads but no longer takes a connection for a write (gone mid-run)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


async def test_a_system_gone_mid_run_backs_the_tenant_off(
    db: StateDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    async with systems() as env:
        for n in range(6):
            await env.organisation(OrganisationName=f"Kund {n} AB")
        transports = {
            "fortnox": env.connector.transports["fortnox"],
            "webcrm": _WritesRefused(env.connector.transports["webcrm"]),
        }
        connector = Connector(clock=env.clock, sleep=env.connector.sleep, transports=transports)
        service = SyncService([harness_tenant()], db, connector, quick(feed=False))
        worker = service.workers["acme"]

        async def backing_off() -> bool:
            return worker.failures >= 2

        with caplog.at_level(logging.WARNING, logger="webcrm_fortnox.service.worker"):
            async with running(service):
                await eventually(backing_off, "a second failed sync")

    assert worker.reason is not None
    assert worker.reason.startswith("webCRM: no answer from https://api.webcrm.com")
    waits = [
        r.retry_in for r in caplog.records if r.getMessage() == "tenant sync failed; backing off"
    ]  # type: ignore[attr-defined]
    assert waits[:2] == [0.2, 0.4]  # the first backoff, doubled
    errors = await db.tenant("acme").open_errors()
    assert errors and not [e for e in errors if "refused it" in e.reason]
