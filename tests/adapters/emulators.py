"""Both emulators in-process, with clients wired to them and one clock for all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.fortnox.auth import OAuthClient, ServiceAccountAuth
from webcrm_fortnox.fortnox.client import FortnoxClient
from webcrm_fortnox.fortnox.emulator import create_app as fortnox_app
from webcrm_fortnox.fortnox.urls import FortnoxUrls
from webcrm_fortnox.webcrm.client import WebcrmClient
from webcrm_fortnox.webcrm.emulator import create_app as webcrm_app
from webcrm_fortnox.webcrm.emulator.state import DEFAULT_API_TOKEN

FORTNOX_URL = "http://fortnox.test"
WEBCRM_URL = "http://webcrm.test"


@dataclass
class Emulators:
    clock: EmulatorClock
    fortnox: FortnoxClient
    webcrm: WebcrmClient


@asynccontextmanager
async def emulators(seed: str = "empty") -> AsyncIterator[Emulators]:
    """Fresh emulators of both systems, no rate limits, and clients that never really sleep."""
    clock = EmulatorClock()

    async def sleep(seconds: float) -> None:
        clock.advance(max(seconds, 0.0))
        await asyncio.sleep(0)

    fortnox_http = httpx.AsyncClient(
        transport=httpx.ASGITransport(fortnox_app(seed=seed, rate_limit=False, clock=clock)),
        base_url=FORTNOX_URL,
    )
    webcrm_http = httpx.AsyncClient(
        transport=httpx.ASGITransport(webcrm_app(seed=seed, rate_limit=False, clock=clock)),
        base_url=WEBCRM_URL,
    )
    urls = FortnoxUrls.single_host(FORTNOX_URL)
    oauth = OAuthClient(
        "emulator", "emulator-secret", urls=urls, http=fortnox_http, clock=clock.timestamp,
        sleep=sleep,
    )  # fmt: skip
    fortnox = FortnoxClient(ServiceAccountAuth(oauth, 1), urls=urls, http=fortnox_http, sleep=sleep)
    webcrm = WebcrmClient(
        DEFAULT_API_TOKEN, base_url=WEBCRM_URL, http=webcrm_http, clock=clock.monotonic,
        sleep=sleep,
    )  # fmt: skip
    try:
        yield Emulators(clock, fortnox, webcrm)
    finally:
        await fortnox_http.aclose()
        await webcrm_http.aclose()
