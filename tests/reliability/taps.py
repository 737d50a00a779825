"""An HTTP transport that passes requests through, counts how they ended, and can act mid-run.

Used to make faults happen *mid-run* in-process (expire every token after the tenth request)
without sleeping or guessing at timing, and to prove a fault really hit the sync's requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

Hook = Callable[["Tap", int, httpx.Request], Awaitable[None]]

#: What :attr:`Tap.endings` counts a request whose connection broke as.
DROPPED = "dropped"


class Tap(httpx.AsyncBaseTransport):
    """Forwards every request to ``inner``; ``before`` sees each with its running number.

    Args:
        inner: the transport to the emulator.
        before: awaited before each request is forwarded, with the tap, the request's number
            (from 1) and the request.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, before: Hook | None = None) -> None:
        self.inner = inner
        self.before = before
        self.requests = 0
        #: where the emulator is (taken from the requests passing through)
        self.base = ""
        #: how requests ended: their status, or :data:`DROPPED`
        self.endings: Counter[int | str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.base = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
        if self.before is not None:
            await self.before(self, self.requests, request)
        try:
            response = await self.inner.handle_async_request(request)
        except Exception:
            self.endings[DROPPED] += 1
            raise
        self.endings[response.status_code] += 1
        # Over a real socket the body arrives after the status: a drop mid-body shows there.
        response.stream = _Watched(response.stream, self)
        return response

    async def control(self, method: str, path: str, json: object = None) -> httpx.Response:
        """Send a ``/_emulator/`` request straight to the emulator (not through ``before``)."""
        # Through a bare tap, so closing this client leaves the inner transport open.
        async with httpx.AsyncClient(transport=Tap(self.inner), base_url=self.base) as api:
            response = await api.request(method, path, json=json)
        response.raise_for_status()
        return response


class _Watched(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream | httpx.SyncByteStream, tap: Tap) -> None:
        self.inner = inner
        self.tap = tap

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert isinstance(self.inner, httpx.AsyncByteStream)
        try:
            async for chunk in self.inner:
                yield chunk
        except Exception:
            self.tap.endings[DROPPED] += 1
            raise

    async def aclose(self) -> None:
        if isinstance(self.inner, httpx.AsyncByteStream):
            await self.inner.aclose()
