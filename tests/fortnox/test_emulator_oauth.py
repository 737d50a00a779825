"""OAuth2 of the emulator: the grants, rotation, revocation, expiry and the recorded errors."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI
from tests.fortnox.fixtures.emulator import basic_auth, bearer

from webcrm_fortnox.emulation import EmulatorClock

REDIRECT = "https://app.example/callback"


async def _code(http: httpx.AsyncClient, **extra: str) -> str:
    params = {
        "client_id": "emulator",
        "redirect_uri": REDIRECT,
        "scope": "customer invoice",
        "state": "xyz",
        "response_type": "code",
        "access_type": "offline",
        **extra,
    }
    response = await http.get("/oauth-v1/auth", params=params)
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    assert query["state"] == ["xyz"]
    return query["code"][0]


async def _token(http: httpx.AsyncClient, auth: str | None = None, **form: str) -> httpx.Response:
    return await http.post(
        "/oauth-v1/token", data=form, headers={"Authorization": auth or basic_auth()}
    )


async def test_authorization_code_flow_gives_tokens_that_open_the_api(
    fortnox_http: httpx.AsyncClient,
) -> None:
    code = await _code(fortnox_http)
    response = await _token(
        fortnox_http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["access_token", "expires_in", "token_type", "scope", "refresh_token"]
    assert body["expires_in"] == 3600
    assert body["token_type"] == "bearer"
    assert body["scope"] == "customer invoice"
    listing = await fortnox_http.get("/3/customers", headers=bearer(body["access_token"]))
    assert listing.status_code == 200


async def test_code_is_single_use_and_bound_to_redirect_uri(
    fortnox_http: httpx.AsyncClient,
) -> None:
    code = await _code(fortnox_http)
    wrong = await _token(
        fortnox_http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT + "x"
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    again = await _token(
        fortnox_http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT
    )
    assert again.status_code == 400


async def test_auth_picks_the_tenant_from_tenant_id(fortnox_app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fortnox_app), base_url="https://x"
    ) as http:
        added = await http.post("/_emulator/tenants", json={"company_name": "Andra AB"})
        tenant_id = added.json()["tenant_id"]
        code = await _code(http, tenant_id=str(tenant_id), scope="companyinformation")
        body = (
            await _token(http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
        ).json()
        info = await http.get("/3/companyinformation", headers=bearer(body["access_token"]))
        assert info.json()["CompanyInformation"]["DatabaseNumber"] == tenant_id
        assert info.json()["CompanyInformation"]["CompanyName"] == "Andra AB"


async def test_refresh_rotates_and_the_old_refresh_token_dies(
    fortnox_http: httpx.AsyncClient,
) -> None:
    code = await _code(fortnox_http)
    first = (
        await _token(
            fortnox_http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT
        )
    ).json()
    second = await _token(
        fortnox_http, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    reused = await _token(
        fortnox_http, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    # recorded: authentication/invalid_refresh_token.yml
    assert reused.status_code == 400
    assert reused.json() == {"error": "invalid_grant", "error_description": "Invalid refresh token"}
    assert reused.headers["content-type"].startswith("text/html")


async def test_revoked_refresh_token_is_refused(fortnox_http: httpx.AsyncClient) -> None:
    code = await _code(fortnox_http)
    tokens = (
        await _token(
            fortnox_http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT
        )
    ).json()
    revoked = await fortnox_http.post(
        "/oauth-v1/revoke",
        data={"token_type_hint": "refresh_token", "token": tokens["refresh_token"]},
        headers={"Authorization": basic_auth()},
    )
    assert revoked.json() == {"revoked": True}
    refused = await _token(
        fortnox_http, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert refused.status_code == 400


async def test_client_credentials_needs_the_tenant_header_and_gives_no_refresh_token(
    fortnox_http: httpx.AsyncClient,
) -> None:
    missing = await _token(fortnox_http, grant_type="client_credentials")
    assert missing.status_code == 400
    response = await fortnox_http.post(
        "/oauth-v1/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic_auth(), "TenantId": "1"},
    )
    assert response.status_code == 200
    assert "refresh_token" not in response.json()
    ok = await fortnox_http.get("/3/articles", headers=bearer(response.json()["access_token"]))
    assert ok.status_code == 200


async def test_bad_client_credentials_answer_the_recorded_invalid_client(
    fortnox_http: httpx.AsyncClient,
) -> None:
    response = await _token(
        fortnox_http, basic_auth("emulator", "wrong"), grant_type="client_credentials"
    )
    # recorded: authentication/invalid_authorization.yml
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "The client credentials are invalid",
    }


async def test_missing_unknown_and_expired_tokens_get_the_recorded_401(
    fortnox_http: httpx.AsyncClient, fortnox_app: FastAPI, fortnox_clock: EmulatorClock
) -> None:
    from tests.fortnox.fixtures.emulator import access_token

    token = access_token(fortnox_app)
    assert (await fortnox_http.get("/3/customers", headers=bearer(token))).status_code == 200
    for headers in ({}, bearer("not-a-token")):
        response = await fortnox_http.get("/3/customers", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"message": "unauthorized"}
    fortnox_clock.advance(3600)
    expired = await fortnox_http.get("/3/customers", headers=bearer(token))
    assert expired.status_code == 401
    assert expired.json() == {"message": "unauthorized"}


async def test_token_ttl_is_settable() -> None:
    from tests.fortnox.fixtures.emulator import client_for

    from webcrm_fortnox.fortnox.emulator import create_app

    clock = EmulatorClock()
    app = create_app(seed="empty", clock=clock, token_ttl=60)
    async with client_for(app) as http:
        body = (
            await http.post(
                "/oauth-v1/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": basic_auth(), "TenantId": "1"},
            )
        ).json()
        assert body["expires_in"] == 60
        clock.advance(59)
        assert (await http.get("/3/units", headers=bearer(body["access_token"]))).status_code == 200
        clock.advance(1)
        assert (await http.get("/3/units", headers=bearer(body["access_token"]))).status_code == 401


async def test_expire_all_tokens_control_route(
    fortnox_http: httpx.AsyncClient, fortnox_token: str
) -> None:
    assert (await fortnox_http.post("/_emulator/tokens/expire")).status_code == 200
    response = await fortnox_http.get("/3/customers", headers=bearer(fortnox_token))
    assert response.status_code == 401
