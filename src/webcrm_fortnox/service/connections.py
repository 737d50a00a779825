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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import httpx

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.engine.ports import System
from webcrm_fortnox.fortnox.auth import (
    AuthorizationCodeAuth,
    FortnoxAuth,
    OAuthClient,
    ServiceAccountAuth,
)
from webcrm_fortnox.fortnox.client import FortnoxClient
from webcrm_fortnox.fortnox.limits import DEFAULT_LIMIT, DEFAULT_PERIOD, limiter_key
from webcrm_fortnox.fortnox.urls import FortnoxUrls
from webcrm_fortnox.service.vault import KeySource, TokenVault
from webcrm_fortnox.store.ratelimits import RateWindows
from webcrm_fortnox.store.service import ServiceStore
from webcrm_fortnox.store.state import StateDatabase
from webcrm_fortnox.transport.limiters import LimiterRegistry
from webcrm_fortnox.transport.ratelimit import RateLimiter
from webcrm_fortnox.webcrm.client import WebcrmClient, webcrm_limiters
from webcrm_fortnox.webcrm.client import limiter_key as webcrm_limiter_key

#: Seconds an HTTP request may take before it counts as a timeout (then retried or looked up).
#: Opening a connection gets far less than an answer: a request may take long to carry out, but
#: a reachable API accepts a connection within a second, and a connect that waits 30 s six
#: times over (the clients' retries) kept a sync three minutes on a system that had gone away.
#: At 5 s a request to a silent host gives up within about 45 s, and the next ones (tried once
#: each, see ``ApiTransport.request``) within 5 s, so the run stops within a minute.
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


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
    """The two clients of one tenant run, and the clock its cursors are taken from.

    Attributes:
        webcrm: the webCRM client.
        fortnox: the Fortnox client.
        now: the clock cursors are taken from.
        fortnox_auth: the Fortnox credential (the change feed subscribes with its tokens).
        windows: the clients' rate limiters by the key their windows are handed over under
            (see :mod:`webcrm_fortnox.store.ratelimits`).
    """

    webcrm: WebcrmClient
    fortnox: FortnoxClient
    now: Callable[[], datetime]
    fortnox_auth: FortnoxAuth | None = None
    windows: Mapping[str, RateLimiter] = field(default_factory=dict)


class Connector:
    """Opens tenants' clients; one per process (it holds the shared rate-limit registries).

    Args:
        clock: the time source (default: the machine's).
        sleep: the sleeper for backoff and rate limits (tests advance the emulators' clock).
        transports: per system, the HTTP transport to send through instead of the network
            (tests pass ``httpx.ASGITransport`` to the in-process emulators).
        keys: where the key of the stored Fortnox tokens is (``authorization-code`` tenants);
            none: such tenants cannot be opened.
        fortnox_rate: (requests, seconds) the Fortnox clients allow themselves; the demo
            raises it for emulators that enforce no limit.
        webcrm_rate: the same for webCRM (default: its 250 a minute).
    """

    def __init__(
        self,
        *,
        clock: TimeSource | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transports: Mapping[System, httpx.AsyncBaseTransport] | None = None,
        keys: KeySource | None = None,
        fortnox_rate: tuple[int, float] = (DEFAULT_LIMIT, DEFAULT_PERIOD),
        webcrm_rate: tuple[int, float] | None = None,
    ) -> None:
        self.keys = keys
        self.clock = clock or SystemTime()
        self.sleep = sleep
        self.transports = dict(transports or {})
        # Fortnox counts per client id and tenant, webCRM per token: every run of the same
        # credential in this process must draw from the same limiter.
        self.fortnox_limiters = LimiterRegistry(
            *fortnox_rate, monotonic=self.clock.monotonic, sleep=sleep
        )
        self.webcrm_limiters = webcrm_limiters(
            *(webcrm_rate or ()), monotonic=self.clock.monotonic, sleep=sleep
        )

    def _http(self, system: System) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transports.get(system), timeout=HTTP_TIMEOUT)

    def oauth(self, tenant: TenantConfig, http: httpx.AsyncClient) -> OAuthClient:
        """The tenant's Fortnox OAuth client (token endpoint, authorize URL)."""
        settings = tenant.fortnox
        return OAuthClient(
            settings.client_id,
            settings.client_secret.get_secret_value(),
            urls=fortnox_urls(tenant),
            http=http,
            clock=self.clock.timestamp,
            sleep=self.sleep,
        )

    def vault(self, store: ServiceStore) -> TokenVault | None:
        """The token vault over ``store`` with this connector's key, if it has one."""
        return None if self.keys is None else TokenVault(store, self.keys)

    def http(self, system: System) -> httpx.AsyncClient:
        """A new HTTP client for ``system`` (through the test transport when one is set)."""
        return self._http(system)

    async def _fortnox_auth(
        self, tenant: TenantConfig, oauth: OAuthClient, vault: TokenVault | None
    ) -> tuple[FortnoxAuth, str]:
        """The credential and the rate-limit identity (tenant id) of the tenant's company."""
        settings = tenant.fortnox
        if settings.auth == "service-account":
            if settings.tenant_id is None:
                raise NotConnectedError(
                    f'tenant {tenant.name}: auth = "service-account" needs fortnox.tenant_id'
                )
            return ServiceAccountAuth(oauth, settings.tenant_id), str(settings.tenant_id)
        grant = None if vault is None else await vault.load(tenant.name)
        if grant is None:
            raise NotConnectedError(
                f"tenant {tenant.name} is not connected to Fortnox yet: run "
                f"`webcrm-fortnox connect fortnox --tenant {tenant.name}`"
            )
        assert vault is not None
        if grant.token.refresh_token is None:
            raise NotConnectedError(
                f"tenant {tenant.name}: the stored Fortnox grant has no refresh token; run "
                f"`webcrm-fortnox connect fortnox --tenant {tenant.name}` again"
            )
        company = grant.tenant_id
        # Other processes may refresh this tenant too: every rotation holds its token row's lock.
        auth = AuthorizationCodeAuth(
            oauth,
            refresh_token=grant.token.refresh_token,
            rotation=lambda: vault.rotation(tenant.name),
            token=grant.token,
        )
        # Fortnox counts per client id and company; before the company is known, per tenant.
        identity = str(company) if company is not None else f"tenant:{tenant.name}"
        return auth, identity

    @asynccontextmanager
    async def clients(
        self,
        tenant: TenantConfig,
        *,
        vault: TokenVault | None = None,
        handover: StateDatabase | None = None,
    ) -> AsyncIterator[TenantClients]:
        """The tenant's webCRM and Fortnox clients, closed when the block ends.

        Args:
            tenant: the tenant's configuration.
            vault: where ``connect`` stored the tokens of ``auth = "authorization-code"``
                tenants (they cannot be opened without it).
            handover: the state database through which the vendors' rate-limit windows pass
                from the process that last used the tenant's credentials to this one, and on
                to the next when the block ends (see :mod:`webcrm_fortnox.store.ratelimits`).

        Raises:
            NotConnectedError: an ``authorization-code`` tenant has no stored tokens yet.
            TokenKeyError: tokens are stored but the key to read them is missing.
        """
        settings = tenant.fortnox
        async with AsyncExitStack() as stack:
            fortnox_http = await stack.enter_async_context(self._http("fortnox"))
            webcrm_http = await stack.enter_async_context(self._http("webcrm"))
            oauth = self.oauth(tenant, fortnox_http)
            auth, identity = await self._fortnox_auth(tenant, oauth, vault)
            fortnox_key = limiter_key(settings.client_id, identity)
            fortnox_limiter = self.fortnox_limiters.get(fortnox_key)
            fortnox = FortnoxClient(
                auth,
                urls=fortnox_urls(tenant),
                limiter=fortnox_limiter,
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
            token = tenant.webcrm.api_token.get_secret_value()
            windows = {
                ":".join(fortnox_key): fortnox_limiter,
                webcrm_limiter_key(token): webcrm.limiter,
            }
            if handover is not None:
                await stack.enter_async_context(self.windows(handover).kept(windows))
            yield TenantClients(
                webcrm=webcrm,
                fortnox=fortnox,
                now=self.clock.now,
                fortnox_auth=auth,
                windows=windows,
            )

    def windows(self, db: StateDatabase) -> RateWindows:
        """The rate-limit windows handed over through ``db``, on this connector's wall clock."""
        return RateWindows(db, self.clock.timestamp)


def fortnox_urls(tenant: TenantConfig) -> FortnoxUrls:
    """Where the tenant's Fortnox (or emulator) is."""
    settings = tenant.fortnox
    return FortnoxUrls(api=settings.base_url, auth=settings.auth_url, websocket=settings.ws_url)
