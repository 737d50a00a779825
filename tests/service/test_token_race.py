"""Two processes refreshing one tenant's Fortnox token at once end with one valid token.

Fortnox refresh tokens are single-use, and so are the emulator's: without the token row's lock
both processes would send the same refresh token and the second would be refused
(``invalid_grant``), leaving the company to connect again. Each process opens the tenant's clients
from the state store as ``run`` does, with an expired access token, and calls Fortnox at the same
moment. The token endpoint answers through a proxy that holds every answer back a while, so the
two refreshes overlap for certain.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.e2e.harness import state_url
from tests.service.live import Live
from webcrm_fortnox.fortnox.auth import OAuthClient, TokenSet
from webcrm_fortnox.fortnox.urls import FortnoxUrls
from webcrm_fortnox.service.http_server import serving
from webcrm_fortnox.service.vault import FortnoxGrant, KeySource, TokenVault
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.service import ServiceStore

#: How long the proxy holds back each token answer: far longer than two processes take to start
#: their refresh after the same signal.
HOLD = 0.5
CHILD = "tests.service.token_race_child"


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with state_url(request.param, tmp_path) as value:
        yield value


class SlowTokenEndpoint:
    """Forwards ``POST /oauth-v1/token`` to the emulator, answering after :data:`HOLD`."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.grants: list[str] = []
        self.app = Starlette(routes=[Route("/oauth-v1/token", self.token, methods=["POST"])])

    async def token(self, request: Request) -> Response:
        body = await request.body()
        self.grants.extend(parse_qs(body.decode())["grant_type"])
        headers = {k: v for k, v in request.headers.items() if k in ("authorization", "accept")}
        headers["content-type"] = request.headers["content-type"]
        async with httpx.AsyncClient() as http:
            answer = await http.post(self.target + "/oauth-v1/token", content=body, headers=headers)
        await asyncio.sleep(HOLD)
        kind = answer.headers.get("content-type", "application/json")
        return Response(answer.content, answer.status_code, media_type=kind)


@pytest.fixture
async def proxy(env: Live) -> AsyncIterator[tuple[SlowTokenEndpoint, str]]:
    endpoint = SlowTokenEndpoint(env.fortnox_url)
    async with serving(endpoint.app) as address:
        yield endpoint, address


async def first_grant(env: Live) -> TokenSet:
    """The tokens ``connect fortnox`` would store, from the emulator's consent."""
    async with httpx.AsyncClient() as http:
        oauth = OAuthClient(
            "emulator", "emulator-secret", urls=FortnoxUrls.single_host(env.fortnox_url), http=http
        )
        back = "http://127.0.0.1:1/callback"
        address = oauth.authorize_url(scopes=["companyinformation"], state="s", redirect_uri=back)
        consent = await http.get(address)
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        return await oauth.exchange_code(code, redirect_uri=back)


async def run_child(args: list[str]) -> tuple[int, dict[str, str]]:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", CHILD, *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode is not None
    return child.returncode, json.loads(out.decode().strip().splitlines()[-1])


async def test_two_processes_refreshing_one_tenant_end_with_one_valid_token(
    env: Live, proxy: tuple[SlowTokenEndpoint, str], url: str, tmp_path: Path
) -> None:
    endpoint, proxy_url = proxy
    keys = KeySource(path=tmp_path / "token.key")
    first = await first_grant(env)
    expired = TokenSet(first.access_token, 0.0, first.refresh_token, first.scope)
    async with await StateDatabase.open(url) as db:
        await TokenVault(ServiceStore(db), keys).save("acme", FortnoxGrant(expired, 1))

    args = [url, str(keys.path), env.fortnox_url, proxy_url, str(tmp_path)]
    children = [asyncio.ensure_future(run_child([*args, str(n)])) for n in (1, 2)]
    while not all((tmp_path / f"ready-{n}").exists() for n in (1, 2)):
        assert not any(child.done() for child in children), [c.result() for c in children]
        await asyncio.sleep(0.02)
    (tmp_path / "go").touch()
    results = await asyncio.gather(*children)

    assert [code for code, _ in results] == [0, 0], results  # no invalid_grant
    assert endpoint.grants == ["refresh_token"]  # one refresh: the other used its token
    assert results[0][1]["access_token"] == results[1][1]["access_token"]
    async with await StateDatabase.open(url) as db:
        stored = await TokenVault(ServiceStore(db), keys).load("acme")
    assert stored is not None and stored.token.access_token == results[0][1]["access_token"]
    assert stored.tenant_id == 1
    async with httpx.AsyncClient() as http:
        oauth = OAuthClient(
            "emulator", "emulator-secret", urls=FortnoxUrls.single_host(env.fortnox_url), http=http
        )
        assert stored.token.refresh_token is not None
        assert (await oauth.refresh(stored.token.refresh_token)).refresh_token  # still valid
