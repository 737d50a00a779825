"""webCRM's login: an application token traded for hour-long access tokens.

An administrator creates the application token (a GUID) in webCRM under
Configuration → Integration → API → REST. ``POST /Auth/ApiLogin`` with the form field
``authCode`` returns a ``TokenResponseDto`` whose ``AccessToken`` is sent as a Bearer token on
every other call. :class:`ApiTokenAuth` logs in when it holds no token, again a few minutes before
the token expires, and again after a 401: webCRM under parallel load refuses valid tokens now and
then (recorded by the vendor's own integration), and one fresh login then a retry gets past it.

Logging in again is all that is needed; ``/Auth/ApiRefresh`` saves nothing over it and its
refresh-token lifetime is not documented, so it is not used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from webcrm_fortnox.errors import (
    ApiError,
    PermissionDenied,
    ReconnectNeeded,
)
from webcrm_fortnox.transport.http import ApiTransport
from webcrm_fortnox.transport.ratelimit import RateLimiter
from webcrm_fortnox.webcrm.classify import SYSTEM, TOKEN_SETTINGS, classify, read_body

#: Log in again this long before the token's nominal end (it lives an hour).
RENEW_BEFORE = 300.0
#: Assumed when a login response names no lifetime (the documented one).
DEFAULT_TTL = 3600.0

CHECK_TOKEN = (
    f"webCRM did not accept the API token; check the token in webCRM under {TOKEN_SETTINGS} "
    "and enter it again"
)
PLAN_NEEDED = (
    "this webCRM system has no API access; webCRM's REST API needs the PLUS or ENTERPRISE plan"
)
_PLAN_WORDS = ("plus", "enterprise", "license", "licence", "subscription", "api access")


def _mentions_plan(*texts: Any) -> bool:
    joined = " ".join(str(text).lower() for text in texts if text)
    return any(word in joined for word in _PLAN_WORDS)


def classify_login(response: httpx.Response) -> ApiError:
    """The error for a failed ``/Auth/ApiLogin``: a bad token or a plan without API access.

    A refused application token is not something a new attempt fixes, so it is
    :class:`ReconnectNeeded` (the tenant pauses until someone enters a working token), not the
    :class:`AuthExpired` of an ordinary call.
    """
    body = read_body(response)
    fields = body if isinstance(body, dict) else {}
    words = (fields.get("Error"), fields.get("ErrorDescription"), fields.get("Message"))
    common: dict[str, Any] = {
        "system": SYSTEM,
        "status": response.status_code,
        "code": fields.get("Error") or fields.get("Type"),
        "vendor_message": fields.get("ErrorDescription") or fields.get("Message"),
        "body": response.text,
    }
    refused = response.status_code in (400, 401, 404) or (
        response.is_success and bool(fields.get("IsError"))
    )
    if response.status_code == 403 or (refused and _mentions_plan(*words)):
        return PermissionDenied(PLAN_NEEDED, **common)
    if refused:
        return ReconnectNeeded(CHECK_TOKEN, **common)
    return classify(response)


@dataclass(frozen=True)
class AccessToken:
    """A granted access token.

    Attributes:
        value: the JWT sent as ``Authorization: Bearer``.
        renew_at: when to log in again, in seconds of the auth's clock.
    """

    value: str
    renew_at: float


class _NoCredentials:
    """The login call itself carries no Bearer token."""

    async def headers(self) -> Mapping[str, str]:
        return {}

    async def invalidate(self, rejected: Mapping[str, str]) -> None:
        return None


class ApiTokenAuth:
    """Holds the access token of one application token (implements ``AuthProvider``).

    Args:
        api_token: the application token (``authCode``).
        login: a transport to webCRM whose ``auth`` is irrelevant; built by :meth:`create`.
        clock: monotonic seconds, to know when the token is due for renewal.
        renew_before: seconds before expiry to log in again.
    """

    def __init__(
        self,
        api_token: str,
        login: ApiTransport,
        *,
        clock: Callable[[], float] = time.monotonic,
        renew_before: float = RENEW_BEFORE,
    ) -> None:
        self._api_token = api_token
        self._login = login
        self._clock = clock
        self.renew_before = renew_before
        self._token: AccessToken | None = None
        # One login at a time: the tasks queued behind it find the fresh token and return.
        self._lock = asyncio.Lock()
        self.logins = 0

    @classmethod
    def create(
        cls,
        api_token: str,
        *,
        base_url: str,
        http: httpx.AsyncClient,
        limiter: RateLimiter,
        clock: Callable[[], float] = time.monotonic,
        renew_before: float = RENEW_BEFORE,
        **transport_options: Any,
    ) -> ApiTokenAuth:
        """An auth whose logins go through ``http`` and count against ``limiter``."""
        login = ApiTransport(
            system=SYSTEM,
            base_url=base_url,
            auth=_NoCredentials(),
            classify=classify_login,
            limiter=limiter,
            http=http,
            **transport_options,
        )
        return cls(api_token, login, clock=clock, renew_before=renew_before)

    def _fresh(self) -> AccessToken | None:
        token = self._token
        if token is None or self._clock() >= token.renew_at:
            return None
        return token

    async def headers(self) -> Mapping[str, str]:
        """``Authorization: Bearer …``, logging in first when no fresh token is held."""
        token = self._fresh()
        if token is None:
            async with self._lock:
                token = self._fresh() or await self._log_in()
        return {"Authorization": f"Bearer {token.value}"}

    async def invalidate(self, rejected: Mapping[str, str]) -> None:
        """Forget the refused token, unless another task has already replaced it."""
        token = self._token
        if token is not None and rejected.get("Authorization") == f"Bearer {token.value}":
            self._token = None

    async def _log_in(self) -> AccessToken:
        # A login creates nothing that a repeat would duplicate, so it is retried like a read.
        response = await self._login.request(
            "POST", "/Auth/ApiLogin", data={"authCode": self._api_token}, idempotent=True
        )
        body = read_body(response)
        if not isinstance(body, dict) or body.get("IsError") or not body.get("AccessToken"):
            raise classify_login(response)
        ttl = body.get("ExpiresIn")
        lifetime = float(ttl) if isinstance(ttl, int | float) and ttl > 0 else DEFAULT_TTL
        # A short-lived token (tests shorten it) still gets used for most of its life.
        margin = min(self.renew_before, lifetime / 4)
        self._token = AccessToken(str(body["AccessToken"]), self._clock() + lifetime - margin)
        self.logins += 1
        return self._token
