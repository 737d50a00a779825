"""Shared fixtures for the webCRM tests: the emulator in-process, an HTTP client over it, logins.

``webcrm_app`` is an empty system with the default token, ``webcrm_demo_app`` one with demo
data; both use ``webcrm_clock`` (move time with ``webcrm_clock.advance(s)`` instead of sleeping).
``webcrm_http`` talks to ``webcrm_app`` without a token, ``webcrm_api`` with a fresh access token,
and ``webcrm_login(client, token)`` logs in with any application token and returns the access
token; ``webcrm_session(app, token)`` gives a logged-in client of any app and system. The
emulator's state is ``app.state.webcrm`` (fixture ``webcrm_emulator``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.webcrm.emulator import DEFAULT_API_TOKEN, WebcrmEmulator, create_app

BASE_URL = "https://api.webcrm.com"

Login = Callable[..., Awaitable[str]]


async def login(client: httpx.AsyncClient, api_token: str = DEFAULT_API_TOKEN) -> str:
    """Exchange an application token for an access token (``POST /Auth/ApiLogin``)."""
    response = await client.post("/Auth/ApiLogin", data={"authCode": api_token})
    response.raise_for_status()
    return str(response.json()["AccessToken"])


def asgi_client(app: FastAPI, access_token: str | None = None) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that calls ``app`` in-process, optionally with a Bearer token."""
    headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=headers
    )


@pytest.fixture
def webcrm_clock() -> EmulatorClock:
    return EmulatorClock()


@pytest.fixture
def webcrm_api_token() -> str:
    return DEFAULT_API_TOKEN


@pytest.fixture
def webcrm_app(webcrm_clock: EmulatorClock) -> FastAPI:
    """The emulator with one empty system (token ``DEFAULT_API_TOKEN``), rate limit on."""
    return create_app(seed="empty", clock=webcrm_clock)


@pytest.fixture
def webcrm_demo_app(webcrm_clock: EmulatorClock) -> FastAPI:
    """The emulator with one system holding the (small, repeatable) demo data."""
    return create_app(seed="demo", clock=webcrm_clock)


@pytest.fixture
def webcrm_emulator(webcrm_app: FastAPI) -> WebcrmEmulator:
    emulator: WebcrmEmulator = webcrm_app.state.webcrm
    return emulator


@pytest.fixture
def webcrm_login() -> Login:
    return login


Session = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def webcrm_session() -> AsyncIterator[Session]:
    """``await webcrm_session(app, api_token=DEFAULT_API_TOKEN)``: a logged-in client of any
    emulator app and system (closed after the test)."""
    opened: list[httpx.AsyncClient] = []

    async def connect(app: FastAPI, api_token: str = DEFAULT_API_TOKEN) -> httpx.AsyncClient:
        async with asgi_client(app) as anonymous:
            token = await login(anonymous, api_token)
        client = asgi_client(app, token)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        await client.aclose()


@pytest.fixture
async def webcrm_http(webcrm_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``webcrm_app`` without credentials."""
    async with asgi_client(webcrm_app) as client:
        yield client


@pytest.fixture
async def webcrm_api(webcrm_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``webcrm_app`` logged in to the default system."""
    async with asgi_client(webcrm_app) as anonymous:
        token = await login(anonymous)
    async with asgi_client(webcrm_app, token) as client:
        yield client


@pytest.fixture
async def webcrm_demo_api(webcrm_demo_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``webcrm_demo_app`` logged in to its system."""
    async with asgi_client(webcrm_demo_app) as anonymous:
        token = await login(anonymous)
    async with asgi_client(webcrm_demo_app, token) as client:
        yield client
