"""Emulator: /Auth/ApiLogin, /Auth/ApiRefresh and the Bearer check on every other route."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.webcrm.emulator import DEFAULT_API_TOKEN, create_app

TOKEN_FIELDS = {
    "AccessToken",
    "RefreshToken",
    "Error",
    "ErrorDescription",
    "IsError",
    "ExpiresIn",
    "TokenType",
}


@pytest.mark.parametrize(
    "how",
    ["urlencoded", "multipart", "header", "query", "lower-case form", "upper-case header"],
)
async def test_login_reads_the_auth_code_wherever_clients_put_it(
    webcrm_http: httpx.AsyncClient, how: str
) -> None:
    post = webcrm_http.post
    requests = {
        "urlencoded": lambda: post("/Auth/ApiLogin", data={"authCode": DEFAULT_API_TOKEN}),
        "multipart": lambda: post("/Auth/ApiLogin", files={"authCode": (None, DEFAULT_API_TOKEN)}),
        "header": lambda: post("/Auth/ApiLogin", headers={"authCode": DEFAULT_API_TOKEN}),
        "query": lambda: post("/Auth/ApiLogin", params={"authcode": DEFAULT_API_TOKEN}),
        "lower-case form": lambda: post("/Auth/ApiLogin", data={"authcode": DEFAULT_API_TOKEN}),
        "upper-case header": lambda: post(
            "/Auth/ApiLogin", headers={"AUTHCODE": DEFAULT_API_TOKEN}
        ),
    }
    response = await requests[how]()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == TOKEN_FIELDS
    assert body["IsError"] is False
    assert body["ExpiresIn"] == 3600
    assert body["TokenType"] == "Bearer"
    assert body["AccessToken"].count(".") == 2  # a JWT, as webCRM's are


async def test_an_unknown_auth_code_is_refused_with_an_error_token_response(
    webcrm_http: httpx.AsyncClient,
) -> None:
    response = await webcrm_http.post("/Auth/ApiLogin", data={"authCode": "not-a-token"})
    assert response.status_code == 401
    assert response.json()["IsError"] is True
    assert response.json()["Error"] == "invalid_grant"
    assert response.json()["AccessToken"] is None


async def test_a_missing_auth_code_is_a_bad_request(webcrm_http: httpx.AsyncClient) -> None:
    response = await webcrm_http.post("/Auth/ApiLogin")
    assert response.status_code == 400
    assert response.json()["IsError"] is True


async def test_a_system_without_api_access_refuses_logins(
    webcrm_app: FastAPI, webcrm_http: httpx.AsyncClient
) -> None:
    added = await webcrm_http.post("/_emulator/tenants", json={"api_access": False})
    response = await webcrm_http.post(
        "/Auth/ApiLogin", data={"authCode": added.json()["api_token"]}
    )
    assert response.status_code == 403
    assert response.json()["Error"] == "unauthorized_client"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}],
    ids=["missing", "unknown", "not bearer"],
)
async def test_api_routes_need_a_valid_bearer_token(
    webcrm_http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await webcrm_http.get("/Organisations", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_access_tokens_expire_after_an_hour(
    webcrm_api: httpx.AsyncClient, webcrm_clock: EmulatorClock
) -> None:
    assert (await webcrm_api.get("/Organisations")).status_code == 200
    webcrm_clock.advance(3599)
    assert (await webcrm_api.get("/Organisations")).status_code == 200
    webcrm_clock.advance(2)
    assert (await webcrm_api.get("/Organisations")).status_code == 401


async def test_the_token_lifetime_is_settable(webcrm_clock: EmulatorClock) -> None:
    app = create_app(seed="empty", clock=webcrm_clock, token_ttl=60)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://api.webcrm.com"
    ) as client:
        login = await client.post("/Auth/ApiLogin", data={"authCode": DEFAULT_API_TOKEN})
        assert login.json()["ExpiresIn"] == 60
        headers = {"Authorization": f"Bearer {login.json()['AccessToken']}"}
        webcrm_clock.advance(61)
        assert (await client.get("/Organisations", headers=headers)).status_code == 401


async def test_expiring_tokens_on_demand_forces_a_new_login_or_refresh(
    webcrm_http: httpx.AsyncClient,
) -> None:
    login = (await webcrm_http.post("/Auth/ApiLogin", data={"authCode": DEFAULT_API_TOKEN})).json()
    bearer = {"Authorization": f"Bearer {login['AccessToken']}"}
    assert (await webcrm_http.get("/Organisations", headers=bearer)).status_code == 200

    await webcrm_http.post("/_emulator/tokens/expire")
    assert (await webcrm_http.get("/Organisations", headers=bearer)).status_code == 401

    refreshed = await webcrm_http.post(
        "/Auth/ApiRefresh", headers={"refreshToken": login["RefreshToken"]}
    )
    assert refreshed.status_code == 200
    new_bearer = {"Authorization": f"Bearer {refreshed.json()['AccessToken']}"}
    assert (await webcrm_http.get("/Organisations", headers=new_bearer)).status_code == 200


async def test_refresh_accepts_the_token_as_a_form_field_too(
    webcrm_http: httpx.AsyncClient,
) -> None:
    login = (await webcrm_http.post("/Auth/ApiLogin", data={"authCode": DEFAULT_API_TOKEN})).json()
    refreshed = await webcrm_http.post(
        "/Auth/ApiRefresh", files={"refreshToken": (None, login["RefreshToken"])}
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["AccessToken"] != login["AccessToken"]
    assert set(refreshed.json()) == TOKEN_FIELDS


async def test_an_unknown_refresh_token_is_refused(webcrm_http: httpx.AsyncClient) -> None:
    response = await webcrm_http.post("/Auth/ApiRefresh", headers={"refreshToken": "nope"})
    assert response.status_code == 401
    assert response.json()["IsError"] is True
