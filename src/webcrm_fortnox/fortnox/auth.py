"""Fortnox OAuth 2: the token endpoint, and the two ways a client holds credentials.

- :class:`ServiceAccountAuth`: ``client_credentials`` with the company's ``TenantId`` header, the
  vendor's recommended mode (no refresh token to lose; reference §1.3).
- :class:`AuthorizationCodeAuth`: an access token renewed with a single-use, rotating refresh
  token (reference §1.1). Every new refresh token is persisted *before* the new access token is
  used, and concurrent refreshes are serialised, because a refresh token used twice is refused
  and the company would have to reconnect. Across processes they are serialised by a
  :data:`Rotation`: a lock on the stored token under which the newest token is read and the new
  one stored.

Both implement :class:`webcrm_fortnox.transport.AuthProvider`: they fetch a token when none is
held, renew it shortly before it expires, and drop it when the API refused it (401).
:class:`OAuthClient` also builds the authorize URL and exchanges a code, for ``connect``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import httpx

from webcrm_fortnox.errors import ApiError, ValidationError
from webcrm_fortnox.fortnox.classify import SYSTEM, classify_token_response, parse_body
from webcrm_fortnox.fortnox.urls import FortnoxUrls
from webcrm_fortnox.transport.http import http_client, no_answer
from webcrm_fortnox.transport.retry import RetryPolicy

log = logging.getLogger(__name__)

#: Renew this many seconds before the nominal expiry: Airbyte saw 401s a few seconds *before*
#: the nominal end of the hour (reference §1.2).
REFRESH_MARGIN = 60.0

Clock = Callable[[], float]


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint grants.

    Attributes:
        access_token: the bearer token for API calls.
        expires_at: when it expires, in seconds of the auth's clock (POSIX time by default).
        refresh_token: the next refresh token (authorization-code grants only).
        scope: the space-separated scopes granted.
    """

    access_token: str
    expires_at: float
    refresh_token: str | None = None
    scope: str = ""

    @classmethod
    def from_response(cls, body: Mapping[str, Any], now: float) -> TokenSet:
        """Read a token response such as ``{"access_token":…,"expires_in":3600,…}``."""
        try:
            access_token = str(body["access_token"])
            expires_in = float(body.get("expires_in", 3600))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(
                "Fortnox's token response lacked an access token.", system=SYSTEM
            ) from exc
        refresh = body.get("refresh_token")
        return cls(
            access_token=access_token,
            expires_at=now + expires_in,
            refresh_token=None if refresh is None else str(refresh),
            scope=str(body.get("scope", "")),
        )


def _basic(client_id: str, client_secret: str) -> str:
    raw = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class OAuthClient:
    """Talks to ``/oauth-v1/`` for one integration (client id and secret).

    Args:
        client_id: the integration's public id.
        client_secret: its secret.
        urls: where Fortnox (or the emulator) is.
        http: the HTTP client to use (shared with the API client is fine).
        retry: backoff for 5xx and connection failures of the token endpoint.
        clock: POSIX seconds, to turn ``expires_in`` into an expiry time.
        sleep: the sleeper between retries.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        urls: FortnoxUrls | None = None,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.urls = urls or FortnoxUrls()
        self._owns_http = http is None
        self.http = http or http_client()
        self.retry = retry or RetryPolicy(attempts=4)
        self.clock = clock
        self._sleep = sleep

    @property
    def client_secret(self) -> str:
        """The integration's secret (the WebSocket ``add-tenants-v1`` command also sends it)."""
        return self._client_secret

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    def authorize_url(
        self,
        *,
        scopes: Iterable[str],
        state: str,
        redirect_uri: str | None = None,
        service_account: bool = False,
    ) -> str:
        """The page a company administrator opens to grant access (reference §1.1 step 1).

        Args:
            scopes: e.g. ``["customer", "article", "order", "invoice", "companyinformation"]``.
            state: an unguessable value echoed back to ``redirect_uri``; check it there.
            redirect_uri: must equal the one registered for the integration.
            service_account: ask for a service-account consent, which then allows
                :class:`ServiceAccountAuth` (``account_type=service``).
        """
        params = {
            "client_id": self.client_id,
            "scope": " ".join(scopes),
            "state": state,
            "access_type": "offline",
            "response_type": "code",
        }
        if redirect_uri is not None:
            params["redirect_uri"] = redirect_uri
        if service_account:
            params["account_type"] = "service"
        # quote, not quote_plus: scopes are space-delimited and documented as %20.
        return f"{self.urls.auth}/oauth-v1/auth?{urlencode(params, quote_via=quote)}"

    async def exchange_code(self, code: str, *, redirect_uri: str | None = None) -> TokenSet:
        """Trade the code from the redirect for the first tokens (single use, 10 minutes)."""
        form = {"grant_type": "authorization_code", "code": code}
        if redirect_uri is not None:
            form["redirect_uri"] = redirect_uri
        return await self._token(form, idempotent=False)

    async def refresh(self, refresh_token: str) -> TokenSet:
        """Use ``refresh_token`` (which becomes invalid) for a new access and refresh token."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        # Not idempotent: if the answer is lost after Fortnox rotated, sending the old token
        # again is refused with invalid_grant, so it is only resent when provably not sent.
        return await self._token(form, idempotent=False)

    async def client_credentials(self, tenant_id: int | str) -> TokenSet:
        """An access token for a service account of company ``tenant_id`` (reference §1.3)."""
        form = {"grant_type": "client_credentials"}
        return await self._token(form, headers={"TenantId": str(tenant_id)}, idempotent=True)

    async def revoke(self, refresh_token: str) -> bool:
        """Revoke a refresh token; true when Fortnox confirms (``{"revoked": true}``)."""
        form = {"token_type_hint": "refresh_token", "token": refresh_token}
        body = await self._post("/oauth-v1/revoke", form, headers={}, idempotent=True)
        return bool(isinstance(body, Mapping) and body.get("revoked"))

    async def _token(
        self, form: Mapping[str, str], *, headers: Mapping[str, str] | None = None, idempotent: bool
    ) -> TokenSet:
        body = await self._post(
            "/oauth-v1/token", form, headers=headers or {}, idempotent=idempotent
        )
        if not isinstance(body, Mapping):
            raise ValidationError("Fortnox's token response was not JSON.", system=SYSTEM)
        return TokenSet.from_response(body, self.clock())

    async def _post(
        self, path: str, form: Mapping[str, str], *, headers: Mapping[str, str], idempotent: bool
    ) -> Any:
        url = self.urls.auth.rstrip("/") + path
        request_headers = {
            "Authorization": _basic(self.client_id, self._client_secret),
            "Accept": "application/json",
            **headers,
        }
        attempt = 0
        while True:
            attempt += 1
            error: ApiError
            try:
                response = await self.http.post(url, data=dict(form), headers=request_headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                error = no_answer(SYSTEM, url, exc, not_sent=True)
            except (httpx.TransportError, OSError) as exc:
                error = no_answer(SYSTEM, url, exc, not_sent=False)
            else:
                if response.is_success:
                    return parse_body(response)
                error = classify_token_response(response)
            if not self.retry.should_retry(attempt, error, idempotent=idempotent):
                raise error
            await self._sleep(self.retry.delay(attempt, error))


class _CachedTokenAuth:
    """A held access token, renewed under a lock shortly before expiry or after a 401."""

    def __init__(self, oauth: OAuthClient, *, refresh_margin: float = REFRESH_MARGIN) -> None:
        self.oauth = oauth
        self.refresh_margin = refresh_margin
        self._token: TokenSet | None = None
        # One renewal at a time: the tasks that queue behind it find a fresh token and return.
        self._lock = asyncio.Lock()
        self.renewals = 0

    def _fresh(self) -> TokenSet | None:
        token = self._token
        if token is None or token.expires_at - self.refresh_margin <= self.oauth.clock():
            return None
        return token

    async def access_token(self) -> str:
        """A valid access token, fetching or renewing it first if needed."""
        token = self._fresh()
        if token is None:
            async with self._lock:
                token = self._fresh()
                if token is None:
                    token = await self._renew()
                    self.renewals += 1
                    self._token = token
        return token.access_token

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {await self.access_token()}"}

    async def invalidate(self, rejected: Mapping[str, str]) -> None:
        # Only drop the token that was refused; another task may already have renewed it.
        token = self._token
        if token is not None and rejected.get("Authorization") == f"Bearer {token.access_token}":
            self._token = None

    async def _renew(self) -> TokenSet:
        raise NotImplementedError


class ServiceAccountAuth(_CachedTokenAuth):
    """Credentials of a service account: ``client_credentials`` for one company.

    Args:
        oauth: the integration's token endpoint.
        tenant_id: the company's tenant id (``DatabaseNumber``), sent as the ``TenantId`` header.
        refresh_margin: renew this many seconds before expiry.
    """

    def __init__(
        self, oauth: OAuthClient, tenant_id: int | str, *, refresh_margin: float = REFRESH_MARGIN
    ) -> None:
        super().__init__(oauth, refresh_margin=refresh_margin)
        self.tenant_id = str(tenant_id)

    async def _renew(self) -> TokenSet:
        return await self.oauth.client_credentials(self.tenant_id)


OnRotate = Callable[[TokenSet], Awaitable[None]]


class RotationSlot(Protocol):
    """The stored token of one company while its rotation lock is held."""

    @property
    def token(self) -> TokenSet | None:
        """The newest stored token, read under the lock (``None``: nothing stored)."""
        ...

    async def save(self, token: TokenSet) -> None:
        """Store ``token``; durable once the lock is released."""
        ...


#: Takes the rotation lock of one company's stored token for the length of the block.
Rotation = Callable[[], AbstractAsyncContextManager[RotationSlot]]


class AuthorizationCodeAuth(_CachedTokenAuth):
    """Credentials from the authorization-code flow, renewed with rotating refresh tokens.

    Args:
        oauth: the integration's token endpoint.
        refresh_token: the refresh token stored at the last rotation (or from ``connect``).
        on_rotate: persists a new :class:`TokenSet` durably. It is awaited *before* the new access
            token is used; if it fails, the token is not used and the error propagates (the new
            refresh token is kept in memory so the next attempt can rotate and persist again).
        rotation: instead of ``on_rotate``, for tokens that other processes refresh too: every
            renewal runs under this lock, starts from the newest stored token (using it as it is
            when another process renewed it meanwhile) and stores the new one before the lock
            is released.
        token: a still valid access token from storage, to skip the first refresh.
        refresh_margin: renew this many seconds before expiry.
    """

    def __init__(
        self,
        oauth: OAuthClient,
        *,
        refresh_token: str,
        on_rotate: OnRotate | None = None,
        rotation: Rotation | None = None,
        token: TokenSet | None = None,
        refresh_margin: float = REFRESH_MARGIN,
    ) -> None:
        if (on_rotate is None) == (rotation is None):
            raise ValueError("give one of on_rotate and rotation")
        super().__init__(oauth, refresh_margin=refresh_margin)
        self._refresh_token = refresh_token
        self._on_rotate = on_rotate
        self._rotation = rotation
        self._token = token
        # The access token last held: a stored one that differs was renewed by someone else.
        self._held = None if token is None else token.access_token
        # A rotation whose storing failed: the refresh token in hand is then the only valid one,
        # newer than any stored.
        self._unsaved = False

    @property
    def refresh_token(self) -> str:
        """The refresh token the next renewal will use."""
        return self._refresh_token

    async def _renew(self) -> TokenSet:
        if self._rotation is None:
            assert self._on_rotate is not None
            token = await self._rotate(self._on_rotate)
        else:
            async with self._rotation() as slot:
                token = self._renewed_elsewhere(slot.token) or await self._rotate(slot.save)
        self._held = token.access_token
        return token

    def _renewed_elsewhere(self, newest: TokenSet | None) -> TokenSet | None:
        """The stored token when another process renewed it since this one last held one."""
        if newest is None or self._unsaved:
            return None
        if newest.refresh_token:
            self._refresh_token = newest.refresh_token
        fresh = newest.expires_at - self.refresh_margin > self.oauth.clock()
        return newest if fresh and newest.access_token != self._held else None

    async def _rotate(self, persist: OnRotate) -> TokenSet:
        token = await self.oauth.refresh(self._refresh_token)
        if token.refresh_token:
            # The old one is spent now: hold the new one even if persisting it fails below.
            self._refresh_token = token.refresh_token
        self._unsaved = True
        await persist(token)
        self._unsaved = False
        log.info("fortnox refresh token rotated", extra={"client_id": self.oauth.client_id})
        return token


FortnoxAuth = ServiceAccountAuth | AuthorizationCodeAuth
