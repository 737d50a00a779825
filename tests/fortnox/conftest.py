"""Fixtures for every Fortnox test: an in-process emulator with its own clock.

* ``fortnox_clock``: the emulated clock (``advance()`` instead of sleeping);
* ``fortnox_app``: ``create_app(seed="empty")`` on that clock, tenant 1, rate limit on;
* ``fortnox_emulator``: its state object (``app.state.fortnox``);
* ``fortnox_token``: a valid access token for tenant 1 with every scope;
* ``fortnox_http``: an ``httpx.AsyncClient`` over ``httpx.ASGITransport``, no auth header;
* ``fortnox_api``: the same with ``Authorization: Bearer <fortnox_token>`` (alias ``api``).

Helpers to import: ``tests.fortnox.fixtures.emulator`` (``access_token``, ``basic_auth``, …).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from tests.fortnox.fixtures.emulator import access_token, client_for, emulator_of

from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.fortnox.emulator import FortnoxEmulator, create_app


@pytest.fixture
def fortnox_clock() -> EmulatorClock:
    return EmulatorClock()


@pytest.fixture
def fortnox_app(fortnox_clock: EmulatorClock) -> FastAPI:
    return create_app(seed="empty", clock=fortnox_clock)


@pytest.fixture
def fortnox_emulator(fortnox_app: FastAPI) -> FortnoxEmulator:
    return emulator_of(fortnox_app)


@pytest.fixture
def fortnox_token(fortnox_app: FastAPI) -> str:
    return access_token(fortnox_app)


@pytest.fixture
async def fortnox_http(fortnox_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(fortnox_app) as client:
        yield client


@pytest.fixture
async def fortnox_api(fortnox_app: FastAPI, fortnox_token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(fortnox_app, fortnox_token) as client:
        yield client


@pytest.fixture
def api(fortnox_api: httpx.AsyncClient) -> httpx.AsyncClient:
    return fortnox_api
