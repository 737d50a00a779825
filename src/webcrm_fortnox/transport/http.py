"""The HTTP core both API clients build on: limiter, retries, auth refresh, classification.

A vendor client supplies three things: an :class:`AuthProvider` (headers, and how to get new
credentials), a classifier turning a non-2xx :class:`httpx.Response` into an :class:`ApiError`, and
its base URL. :class:`ApiTransport` does the rest the same way for both vendors.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import httpx

from webcrm_fortnox.errors import (
    ApiError,
    AuthExpired,
    NoAnswer,
    RateLimited,
)
from webcrm_fortnox.transport.ratelimit import RateLimiter
from webcrm_fortnox.transport.retry import RetryPolicy

log = logging.getLogger(__name__)

Classifier = Callable[[httpx.Response], ApiError]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's one TLS context, shared by every HTTP client it makes.

    httpx builds a context per client, even for ``http://`` addresses, by loading the whole CA
    bundle: about 30 ms of CPU and 0.85 MB per client, two clients per tenant. One context
    serves any number of connections. Built on first use, as httpx would (``SSL_CERT_FILE`` or
    ``SSL_CERT_DIR`` when set, else certifi's bundle).
    """
    return httpx.create_ssl_context()


def http_client(
    *,
    timeout: float | httpx.Timeout = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A new HTTP client on :func:`tls_context` (through ``transport`` when one is given: the
    tests' in-process emulators)."""
    return httpx.AsyncClient(transport=transport, timeout=timeout, verify=tls_context())


class AuthProvider(Protocol):
    """Supplies credentials to :class:`ApiTransport`."""

    async def headers(self) -> Mapping[str, str]:
        """Headers that authenticate one request (obtaining a token first if needed)."""
        ...

    async def invalidate(self, rejected: Mapping[str, str]) -> None:
        """The vendor refused ``rejected``: the next :meth:`headers` must bring fresh ones."""
        ...


class CallStats:
    """What one client has spent: calls, 429s, retries. Read by metrics and benchmarks."""

    def __init__(self) -> None:
        self.calls = 0
        self.rate_limited = 0
        self.retries = 0
        self.errors = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def masked_url(url: str, *, origin: bool = False) -> str:
    """``url`` fit to show: a password in it masked as ``***``, any query left out.

    With ``origin``, only ``scheme://host[:port]`` (and the masked user) is kept.
    """
    unreadable = "(an address that cannot be read)"
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return unreadable
    if not parsed.scheme or not parsed.host:
        plain = url.split("?", 1)[0].split("#", 1)[0]
        return unreadable if "@" in plain or not plain else plain
    user = parsed.username
    userinfo = f"{user}:***@" if parsed.password else f"{user}@" if user else ""
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    port = f":{parsed.port}" if parsed.port is not None else ""
    path = "" if origin else parsed.path.rstrip("/")
    return f"{parsed.scheme}://{userinfo}{host}{port}{path}"


def network_reason(exc: BaseException) -> str:
    """Why no answer came, in the network's words: ``connection refused``, ``timed out``…"""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, TimeoutError):
            return "timed out"
        if isinstance(cause, OSError) and isinstance(cause.errno, int) and cause.errno:
            if cause.errno > 0 and cause.errno in errno.errorcode:
                text = os.strerror(cause.errno)
            else:
                text = cause.strerror or str(cause)
            return text[:1].lower() + text[1:]
        cause = cause.__cause__ or cause.__context__
    text = str(exc).strip()
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def no_answer(system: str, url: str, exc: BaseException, *, not_sent: bool) -> NoAnswer:
    """The error for a request to ``url`` that got no response (its password never shown)."""
    return NoAnswer(
        address=masked_url(url, origin=True),
        reason=network_reason(exc),
        system=system,
        not_sent=not_sent,
    )


class ApiTransport:
    """Sends requests for one credential, within its rate limit, with retries.

    Args:
        system: ``"fortnox"`` or ``"webcrm"`` (named in errors and logs).
        base_url: the API root.
        auth: credentials.
        classify: maps a failed response to a typed error.
        limiter: the shared limiter of this credential.
        retry: the backoff policy.
        http: an :class:`httpx.AsyncClient` to use (tests pass one with an ASGI transport);
            one is created, and owned, when omitted.
        sleep: the sleeper used between retries (injectable for tests).
    """

    def __init__(
        self,
        *,
        system: str,
        base_url: str,
        auth: AuthProvider,
        classify: Classifier,
        limiter: RateLimiter,
        retry: RetryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.system = system
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.classify = classify
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self._owns_http = http is None
        self.http = http or http_client(timeout=timeout)
        self._sleep = sleep
        self.stats = CallStats()
        #: Whether the last request that ended got no answer at all, retries spent.
        self.unanswered = False

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one logical request and return its successful response.

        Retries transient failures with backoff; refreshes credentials once on a 401. A
        non-idempotent request (POST by default) is only repeated when the vendor provably did
        not act on it. The body is ``json``, or the form fields ``data`` (urlencoded).

        Once a request has spent its retries without any answer (see :attr:`unanswered`), the
        next ones are tried once each until an answer comes: the backoff is there to ride out
        a blip, and the system is down rather than blipping. Retrying each later request again
        would add the whole backoff (up to 15 s, longer with connect timeouts) per record, and
        a sync that lost webCRM then took minutes to notice instead of seconds (the engine
        stops a run after a few records in a row got no answer).

        Raises:
            ApiError: a subclass naming what went wrong, after retries are exhausted.
        """
        if idempotent is None:
            idempotent = method.upper() != "POST"
        url = f"{self.base_url}/{path.lstrip('/')}"
        attempt = 0
        reauthenticated = False
        while True:
            attempt += 1
            # Wait for the slot first, so the credentials are as fresh as possible when sent.
            await self.limiter.acquire()
            headers = dict(await self.auth.headers())
            self.stats.calls += 1
            try:
                response = await self.http.request(
                    method, url, params=params, json=json, data=data, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                error: ApiError = no_answer(self.system, url, exc, not_sent=True)
            except (httpx.TransportError, OSError) as exc:
                error = no_answer(self.system, url, exc, not_sent=False)
            else:
                self.unanswered = False
                if response.is_success:
                    return response
                error = self.classify(response)
            self.stats.errors += 1
            if isinstance(error, AuthExpired) and not reauthenticated:
                # 401 means the request was not carried out, so repeating it is always safe.
                reauthenticated = True
                await self.auth.invalidate(headers)
                attempt -= 1
                continue
            if isinstance(error, RateLimited):
                self.stats.rate_limited += 1
                self.limiter.penalise(self.retry.delay(attempt, error))
            down = self.unanswered and isinstance(error, NoAnswer)
            if down or not self.retry.should_retry(attempt, error, idempotent=idempotent):
                if isinstance(error, NoAnswer):
                    self.unanswered = True
                raise error
            self.stats.retries += 1
            delay = 0.0 if isinstance(error, RateLimited) else self.retry.delay(attempt, error)
            log.info(
                "retrying",
                extra={
                    "system": self.system,
                    "method": method,
                    "path": path,
                    "attempt": attempt,
                    "delay": round(delay, 3),
                    "error": type(error).__name__,
                },
            )
            await self._sleep(delay)
