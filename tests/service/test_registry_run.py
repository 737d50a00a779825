"""``run`` follows the tenant registry: a tenant registered while it runs starts within one poll,
one paused or removed stops cleanly, one whose settings changed restarts with them."""

from __future__ import annotations

import io
import json
import logging

from tests.service.live import Live, eventually, quick, running
from webcrm_fortnox.service.daemon import SyncService
from webcrm_fortnox.service.logs import Redactor, setup_logging
from webcrm_fortnox.service.registry import Registry
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.registry import TenantState
from webcrm_fortnox.webcrm.emulator.state import DEFAULT_API_TOKEN

SECRET = "emulator-secret"


async def _customer(env: Live, name: str) -> bool:
    return name in [c["Name"] for c in await env.systems.customers()]


async def test_a_tenant_registered_while_running_starts_and_a_paused_one_stops(
    env: Live, db: StateDatabase
) -> None:
    connector = env.connector()
    registry = Registry(db, connector.keys)
    stream = io.StringIO()
    # No secret is known to the logs up front: the service learns the registered tenant's.
    handler = setup_logging(Redactor(), level=logging.DEBUG, stream=stream)
    try:
        service = SyncService([], db, connector, quick(registry_poll=0.05))
        async with running(service):
            await env.systems.organisation(OrganisationName="Ny AB")
            await registry.register([env.tenant()], update=False)
            await eventually(lambda: _customer(env, "Ny AB"), "the new tenant's first sync")
            worker = service.workers["acme"]
            await eventually(lambda: _true(service.feeds[0].live), "its change feed")
            # As a vendor's error might: a text carrying the secrets of the registered tenant.
            logging.getLogger("tests").warning("refused: %s / %s", DEFAULT_API_TOKEN, SECRET)

            await registry.set_state("acme", TenantState.PAUSED, "audit")
            await eventually(lambda: _true("acme" not in service.workers), "the tenant stopped")
            assert worker.clients is None  # its clients are closed ...
            assert service.feeds[0].workers == []  # ... and the feed no longer serves it
            await env.systems.organisation(OrganisationName="Under paus AB")

            await registry.set_state("acme", TenantState.ACTIVE)
            await eventually(lambda: _customer(env, "Under paus AB"), "resumed, it catches up")

            changed = env.tenant(sync_interval_seconds=1800)
            await registry.register([changed], update=True)
            await eventually(
                lambda: _true(service.workers["acme"].tenant == changed), "restarted with them"
            )
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["level"] for r in records if r["level"] in ("ERROR", "CRITICAL")] == []
    starts = [r["tenant"] for r in records if r["message"] == "tenant started"]
    stops = [r["tenant"] for r in records if r["message"] == "tenant stopped"]
    assert (starts, stops) == (["acme"] * 3, ["acme"] * 2)
    output = stream.getvalue()
    assert any('"logger": "httpx"' in line for line in output.splitlines())
    assert "refused: [redacted] / [redacted]" in output
    assert DEFAULT_API_TOKEN not in output and SECRET not in output


async def test_a_registered_tenant_named_as_one_of_the_file_is_not_run(
    env: Live, db: StateDatabase
) -> None:
    connector = env.connector()
    await Registry(db, connector.keys).register(
        [env.tenant(webcrm_poll_seconds=3600)], update=False
    )
    in_file = env.tenant()
    service = SyncService([in_file], db, connector, quick(registry_poll=0.05, feed=False))
    async with running(service):
        await eventually(lambda: _true(service.workers["acme"].syncs >= 1), "the file's tenant")
        assert service.workers["acme"].tenant == in_file
        assert service.roster.running == {}


async def _true(value: bool) -> bool:
    return value
