"""The emulator kit, exercised through a minimal vendor of its own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from webcrm_fortnox.emulation import (
    Caller,
    EmulatedConnectionDrop,
    EmulatorKit,
    Storage,
    install,
)


class ThingVendor:
    """A vendor whose API stores 'things' per tenant; the bearer token is the tenant's name."""

    name = "things"

    def __init__(self, kit: EmulatorKit) -> None:
        self.kit = kit
        self.expired = False

    def is_api_path(self, path: str) -> bool:
        return path.startswith("/api/")

    def identify(self, headers: dict[str, str]) -> Caller | None:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        return Caller(tenant=token, rate_key=f"key:{token}") if token else None

    def rate_limited(self, retry_after: float) -> Response:
        return JSONResponse({"slow": "down"}, status_code=429)

    def server_error(self, status: int) -> Response:
        return JSONResponse({"oops": True}, status_code=status)

    def spurious_unauthorized(self) -> Response:
        return JSONResponse({"who": "?"}, status_code=401)

    def reset(self) -> None:
        self.kit.storage.reset()

    def seed(self, tenant: str | None, kind: str, options: dict[str, Any]) -> dict[str, Any]:
        things = self.kit.storage.table(tenant or "t", "things")
        things.put("seeded", {"kind": kind})
        return {"seeded": len(things)}

    def add_tenant(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"tenant": options.get("name", "new")}

    def expire_tokens(self) -> None:
        self.expired = True


def make_app(kit: EmulatorKit) -> FastAPI:
    app = FastAPI()
    vendor = ThingVendor(kit)
    app.state.vendor = vendor

    @app.post("/api/things/{name}")
    async def create(name: str, request: Request) -> dict[str, Any]:
        tenant = request.headers["authorization"].removeprefix("Bearer ")
        number = kit.storage.next_number(tenant, "things")
        kit.storage.table(tenant, "things").put(name, {"n": number})
        return {"n": number}

    @app.get("/api/things")
    async def count(request: Request) -> dict[str, Any]:
        tenant = request.headers["authorization"].removeprefix("Bearer ")
        return {"count": len(kit.storage.table(tenant, "things"))}

    install(app, kit, vendor)
    return app


@pytest.fixture
def kit() -> EmulatorKit:
    return EmulatorKit(rate_limit=(3, 5.0))


@pytest.fixture
async def client(kit: EmulatorKit) -> Any:
    app = make_app(kit)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://emulator"
    ) as http:
        yield http


def auth(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant}"}


async def test_sliding_window_per_caller_and_clock(kit: EmulatorKit, client: httpx.AsyncClient):
    statuses = [(await client.get("/api/things", headers=auth("a"))).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    # another tenant has a window of its own
    assert (await client.get("/api/things", headers=auth("b"))).status_code == 200
    kit.clock.advance(5.0)
    assert (await client.get("/api/things", headers=auth("a"))).status_code == 200


async def test_stats_count_route_templates_by_tenant(client: httpx.AsyncClient):
    await client.post("/api/things/x", headers=auth("a"))
    await client.post("/api/things/y", headers=auth("a"))
    await client.get("/api/things", headers=auth("b"))
    stats = (await client.get("/_emulator/stats", params={"tenant": "a"})).json()
    assert stats["total"] == 2
    assert stats["requests"] == [
        {"tenant": "a", "method": "POST", "route": "/api/things/{name}", "status": 200, "count": 2}
    ]
    await client.delete("/_emulator/stats")
    assert (await client.get("/_emulator/stats")).json()["total"] == 0


async def test_forced_faults_are_counted_and_consumed(client: httpx.AsyncClient):
    await client.put("/_emulator/faults", json={"force_429": 1, "force_5xx": 1})
    first = await client.get("/api/things", headers=auth("a"))
    second = await client.get("/api/things", headers=auth("a"))
    third = await client.get("/api/things", headers=auth("a"))
    assert (first.status_code, second.status_code, third.status_code) == (429, 503, 200)
    assert (await client.get("/_emulator/faults")).json()["force_429"] == 0


async def test_drop_before_processing_changes_nothing(client: httpx.AsyncClient):
    await client.put("/_emulator/faults", json={"drop_rate": 1.0})
    with pytest.raises(EmulatedConnectionDrop):
        await client.post("/api/things/x", headers=auth("a"))
    await client.put("/_emulator/faults", json={})
    assert (await client.get("/api/things", headers=auth("a"))).json() == {"count": 0}


async def test_drop_after_processing_loses_only_the_response(client: httpx.AsyncClient):
    await client.put("/_emulator/faults", json={"drop_after_rate": 1.0})
    with pytest.raises(EmulatedConnectionDrop):
        await client.post("/api/things/x", headers=auth("a"))
    await client.put("/_emulator/faults", json={})
    assert (await client.get("/api/things", headers=auth("a"))).json() == {"count": 1}


async def test_unknown_fault_setting_is_refused(client: httpx.AsyncClient):
    response = await client.put("/_emulator/faults", json={"explode": True})
    assert response.status_code == 422


async def test_clock_control_moves_time_forward_only(kit: EmulatorKit, client: httpx.AsyncClient):
    before = kit.clock.now()
    answer = (await client.post("/_emulator/clock/advance", json={"seconds": 3600})).json()
    assert answer["offset_seconds"] == 3600
    assert (kit.clock.now() - before).total_seconds() >= 3600
    assert (await client.post("/_emulator/clock/advance", json={"seconds": -1})).status_code == 422


async def test_control_routes_reach_the_vendor(client: httpx.AsyncClient):
    assert (await client.get("/_emulator/health")).json() == {"ok": True, "vendor": "things"}
    seeded = await client.post("/_emulator/seed", json={"tenant": "a", "seed": "demo"})
    assert seeded.json() == {"seeded": 1}
    assert (await client.post("/_emulator/tenants", json={"name": "z"})).json() == {"tenant": "z"}
    await client.post("/_emulator/tokens/expire")
    await client.post("/_emulator/reset")
    assert (await client.get("/api/things", headers=auth("a"))).json() == {"count": 0}


def test_storage_persists_records_and_counters(tmp_path):
    path = tmp_path / "emulator.db"
    storage = Storage(path)
    things = storage.table("acme", "things")
    things.put("1", {"name": "Hammare"})
    things.put("2", {"name": "Såg"})
    things.delete("1")
    assert storage.next_number("acme", "things") == 1
    assert storage.next_number("acme", "things") == 2
    storage.close()

    reopened = Storage(path)
    assert reopened.table("acme", "things").values() == [{"name": "Såg"}]
    assert reopened.next_number("acme", "things") == 3
    reopened.drop_namespace("acme")
    assert len(reopened.table("acme", "things")) == 0
