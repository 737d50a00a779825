"""Emulator: hook subscriptions per token and the calls they make on create, update and delete.

The payload ``{"entity", "id", "event"}`` is our own assumption: webCRM documents none.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.webcrm.emulator import WebcrmEmulator, create_app

Session = Callable[..., Awaitable[httpx.AsyncClient]]
HOOK = {"TargetUrl": "https://crm-listener.example/hook", "Filter": ["All"], "IsEnabled": True}


class Receiver:
    """A hook target: records every call; can hold calls until released."""

    def __init__(self, hold: bool = False) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await self.release.wait()
        self.calls.append((str(request.url), json.loads(request.content)))
        return httpx.Response(200)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def hooked_app(webcrm_clock: EmulatorClock, receiver: Receiver) -> FastAPI:
    return create_app(
        seed="empty", clock=webcrm_clock, hook_transport=httpx.MockTransport(receiver)
    )


async def drained(app: FastAPI) -> None:
    emulator: WebcrmEmulator = app.state.webcrm
    await emulator.hooks.drain()


async def test_hooks_are_crud_and_keep_the_specified_shape(
    hooked_app: FastAPI, webcrm_session: Session
) -> None:
    api = await webcrm_session(hooked_app)
    hook_id = (await api.post("/Organisations/Hooks", json={**HOOK, "EventType": "Update"})).json()
    assert isinstance(hook_id, int)
    hook = (await api.get(f"/Organisations/Hooks/{hook_id}")).json()
    assert hook["TargetUrl"] == HOOK["TargetUrl"]
    assert hook["EventType"] == "Update"
    assert hook["Filter"] == ["All"]
    assert hook["CreatedBy"] == "API webcrm-fortnox"
    assert (
        await api.put(f"/Organisations/Hooks/{hook_id}", json={"IsEnabled": False})
    ).status_code == 200
    assert (await api.get("/Organisations/Hooks")).json()[0]["IsEnabled"] is False
    assert (await api.delete(f"/Organisations/Hooks/{hook_id}")).status_code == 200
    assert (await api.get("/Organisations/Hooks")).json() == []


@pytest.mark.parametrize(
    "body",
    [
        {"Filter": ["All"], "IsEnabled": True},
        {"TargetUrl": "not a url", "Filter": ["All"]},
        {"TargetUrl": "https://x.example", "Filter": []},
        {"TargetUrl": "https://x.example", "Filter": ["Responsible"]},  # a Deliveries filter
        {"TargetUrl": "https://x.example", "Filter": ["All"], "EventType": "Move"},
    ],
)
async def test_invalid_hooks_are_refused(
    webcrm_api: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await webcrm_api.post("/Organisations/Hooks", json=body)
    assert response.status_code == 400
    assert (await webcrm_api.get("/Organisations/Hooks")).json() == []


async def test_each_token_sees_only_its_own_hooks(
    hooked_app: FastAPI, webcrm_session: Session
) -> None:
    api = await webcrm_session(hooked_app)
    other_token = (await api.post("/_emulator/tenants", json={"seed": "empty"})).json()
    other = await webcrm_session(hooked_app, other_token["api_token"])
    await api.post("/Deliveries/Hooks", json=HOOK)
    assert len((await api.get("/Deliveries/Hooks")).json()) == 1
    assert (await other.get("/Deliveries/Hooks")).json() == []
    assert (await other.get("/Deliveries/Hooks/1")).status_code == 404


async def test_enabled_hooks_are_called_on_create_update_and_delete(
    hooked_app: FastAPI, webcrm_session: Session, receiver: Receiver
) -> None:
    api = await webcrm_session(hooked_app)
    for event in ("Create", "Update", "Delete"):
        await api.post("/QuotationLines/Hooks", json={**HOOK, "EventType": event})
    await api.post("/Organisations/Hooks", json={**HOOK, "EventType": "Create"})
    await api.post("/Organisations/Hooks", json={**HOOK, "EventType": "Update", "IsEnabled": False})
    org = (await api.post("/Organisations", json={"OrganisationName": "Hook AB"})).json()
    await api.put(f"/Organisations/{org['OrganisationId']}", json={"OrganisationCity": "Luleå"})
    delivery = (await api.post("/Deliveries", json={"DeliveryOrganisationId": 1})).json()
    line = (await api.post("/QuotationLines", json={"QuotationLineOpportunityId": delivery})).json()
    await api.put(f"/QuotationLines/{line}", json={"QuotationLineQuantity": 2})
    await api.delete(f"/QuotationLines/{line}")
    await drained(hooked_app)

    received = sorted((p["entity"], p["id"], p["event"]) for _, p in receiver.calls)
    assert received == sorted(
        [
            ("Organisation", 1, "Create"),
            ("QuotationLine", line, "Create"),
            ("QuotationLine", line, "Update"),
            ("QuotationLine", line, "Delete"),
        ]
    )
    assert all(set(p) == {"entity", "id", "event"} for _, p in receiver.calls)
    assert {url for url, _ in receiver.calls} == {HOOK["TargetUrl"]}


async def test_a_slow_hook_target_never_holds_up_the_api(
    webcrm_clock: EmulatorClock, webcrm_session: Session
) -> None:
    slow = Receiver(hold=True)
    app = create_app(seed="empty", clock=webcrm_clock, hook_transport=httpx.MockTransport(slow))
    api = await webcrm_session(app)
    await api.post("/Organisations/Hooks", json=HOOK)
    response = await api.post("/Organisations", json={"OrganisationName": "Fast AB"})
    assert response.status_code == 200  # answered while the hook call is still waiting
    emulator: WebcrmEmulator = app.state.webcrm
    assert emulator.hooks.pending == 1
    assert slow.calls == []
    slow.release.set()
    await emulator.hooks.drain()
    assert [payload for _, payload in slow.calls] == [
        {"entity": "Organisation", "id": 1, "event": "Create"}
    ]
    calls = (await api.get("/_emulator/hooks/calls")).json()
    assert calls["pending"] == 0
    assert calls["calls"][0]["status"] == 200


async def test_a_failing_hook_target_is_recorded_not_raised(
    webcrm_clock: EmulatorClock, webcrm_session: Session
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    app = create_app(seed="empty", clock=webcrm_clock, hook_transport=httpx.MockTransport(refuse))
    api = await webcrm_session(app)
    await api.post("/Persons/Hooks", json=HOOK)
    await api.post("/Organisations", json={"OrganisationName": "A"})
    assert (
        await api.post("/Persons", json={"PersonLastName": "B", "PersonOrganisationId": 1})
    ).status_code == 200
    await drained(app)
    calls = (await api.get("/_emulator/hooks/calls")).json()["calls"]
    assert calls[0]["status"] is None
    assert "ConnectError" in calls[0]["error"]
