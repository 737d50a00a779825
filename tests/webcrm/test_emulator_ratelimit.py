"""Emulator: 250 requests per sliding minute per application token, then 429."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI

from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.webcrm.emulator import create_app

Session = Callable[..., Awaitable[httpx.AsyncClient]]


async def spend(client: httpx.AsyncClient, count: int) -> list[int]:
    return [
        (await client.get("/Organisations/FindByUpdateDates/2000-01-01/2000-01-02")).status_code
        for _ in range(count)
    ]


async def test_the_251st_request_in_a_minute_is_throttled_with_the_documented_answer(
    webcrm_api: httpx.AsyncClient,
) -> None:
    assert set(await spend(webcrm_api, 250)) == {200}
    response = await webcrm_api.get("/Organisations")
    assert response.status_code == 429
    body = response.json()
    assert body["Type"] == "TooManyRequestsException"
    assert body["Message"].startswith("The request was throttled.")
    assert 1 <= body["RetryAfterSeconds"] <= 60
    assert response.headers["Retry-After"] == str(body["RetryAfterSeconds"])


async def test_the_window_slides_with_the_clock(
    webcrm_api: httpx.AsyncClient, webcrm_clock: EmulatorClock
) -> None:
    await spend(webcrm_api, 200)
    webcrm_clock.advance(30)
    await spend(webcrm_api, 50)
    assert (await webcrm_api.get("/Organisations")).status_code == 429
    webcrm_clock.advance(30.5)  # the first 200 leave the window, the last 50 stay
    assert set(await spend(webcrm_api, 200)) == {200}
    assert (await webcrm_api.get("/Organisations")).status_code == 429


async def test_each_application_token_has_its_own_quota(
    webcrm_app: FastAPI, webcrm_api: httpx.AsyncClient, webcrm_session: Session
) -> None:
    other_token = (await webcrm_api.post("/_emulator/tenants", json={"seed": "empty"})).json()
    other = await webcrm_session(webcrm_app, other_token["api_token"])
    await spend(webcrm_api, 250)
    assert (await webcrm_api.get("/Organisations")).status_code == 429
    assert (await other.get("/Organisations")).status_code == 200


async def test_the_limit_can_be_switched_off(
    webcrm_clock: EmulatorClock, webcrm_session: Session
) -> None:
    app = create_app(seed="empty", clock=webcrm_clock, rate_limit=False)
    client = await webcrm_session(app)
    assert set(await spend(client, 300)) == {200}
