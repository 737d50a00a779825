"""Building one tenant's two API clients from its configuration.

A :class:`Connector` is made once per process and handed to whatever runs tenants: it holds what
every tenant's clients share (the rate-limit registries, the clock, the sleeper, and in tests the
in-process transports to the emulators) and opens a fresh pair of clients per tenant run, so no
tenant ever sees another's credentials or connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import httpx

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.engine.ports import System
from webcrm_fortnox.fortnox.auth import OAuthClient, ServiceAccountAuth
from webcrm_fortnox.fortnox.client import FortnoxClient
from webcrm_fortnox.fortnox.limits import DEFAULT_LIMIT, DEFAULT_PERIOD, limiter_key
from webcrm_fortnox.fortnox.urls import FortnoxUrls
from webcrm_fortnox.transport.limiters import LimiterRegistry
from webcrm_fortnox.webcrm.client import WebcrmClient, webcrm_limiters

#: Seconds an HTTP request may take before it counts as a timeout (then retried or looked up).
HTTP_TIMEOUT = 30.0


class TimeSource(Protocol):
    """Where the clients and adapters take the time from (the emulators' clock in tests)."""

    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...

    def timestamp(self) -> float:
        """POSIX seconds (token expiry)."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds (rate-limit windows, token renewal)."""
        ...


class SystemTime:
    """The machine's own clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def timestamp(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class NotConnectedError(Exception):
    """The tenant's Fortnox credentials cannot be used yet; ``str()`` says what to do."""


@dataclass(frozen=True)
class TenantClients:
    """The two clients of one tenant run, and the clock its cursors are taken from."""

    webcrm: WebcrmClient
    fortnox: FortnoxClient
    now: Callable[[], datetime]


class Connector:
    """Opens tenants' clients; one per process (it holds the shared rate-limit registries).

    Args:
        clock: the time source (default: the machine's).
        sleep: the sleeper for backoff and rate limits (tests advance the emulators' clock).
        transports: per system, the HTTP transport to send through instead of the network
            (tests pass ``httpx.ASGITransport`` to the in-process emulators).
    """

    def __init__(
        self,
        *,
        clock: TimeSource | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transports: Mapping[System, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self.clock = clock or SystemTime()
        self.sleep = sleep
        self.transports = dict(transports or {})
        # Fortnox counts per client id and tenant, webCRM per token: every run of the same
        # credential in this process must draw from the same limiter.
        self.fortnox_limiters = LimiterRegistry(
            DEFAULT_LIMIT, DEFAULT_PERIOD, monotonic=self.clock.monotonic, sleep=sleep
        )
        self.webcrm_limiters = webcrm_limiters(monotonic=self.clock.monotonic, sleep=sleep)

    def _http(self, system: System) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transports.get(system), timeout=HTTP_TIMEOUT)

    @asynccontextmanager
    async def clients(self, tenant: TenantConfig) -> AsyncIterator[TenantClients]:
        """The tenant's webCRM and Fortnox clients, closed when the block ends.

        Raises:
            NotConnectedError: the tenant uses ``auth = "authorization-code"``, whose tokens come
                from the ``connect`` command that this version does not have yet.
        """
        settings = tenant.fortnox
        if settings.auth != "service-account" or settings.tenant_id is None:
            raise NotConnectedError(
                f'tenant {tenant.name}: Fortnox auth = "authorization-code" needs tokens from '
                "`webcrm-fortnox connect`, which this version does not have yet; use a service "
                'account (auth = "service-account" with fortnox.tenant_id) for now'
            )
        async with AsyncExitStack() as stack:
            fortnox_http = await stack.enter_async_context(self._http("fortnox"))
            webcrm_http = await stack.enter_async_context(self._http("webcrm"))
            urls = FortnoxUrls(
                api=settings.base_url, auth=settings.auth_url, websocket=settings.ws_url
            )
            secret = settings.client_secret.get_secret_value()
            oauth = OAuthClient(
                settings.client_id,
                secret,
                urls=urls,
                http=fortnox_http,
                clock=self.clock.timestamp,
                sleep=self.sleep,
            )
            fortnox = FortnoxClient(
                ServiceAccountAuth(oauth, settings.tenant_id),
                urls=urls,
                limiter=self.fortnox_limiters.get(
                    limiter_key(settings.client_id, settings.tenant_id)
                ),
                http=fortnox_http,
                sleep=self.sleep,
            )
            webcrm = WebcrmClient(
                tenant.webcrm.api_token.get_secret_value(),
                base_url=tenant.webcrm.base_url,
                limiters=self.webcrm_limiters,
                http=webcrm_http,
                clock=self.clock.monotonic,
                sleep=self.sleep,
            )
            yield TenantClients(webcrm=webcrm, fortnox=fortnox, now=self.clock.now)
