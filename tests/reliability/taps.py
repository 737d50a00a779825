"""An HTTP transport that passes requests through, counts how they ended, and can act mid-run.

Used to make faults happen *mid-run* in-process (expire every token after the tenth request)
without sleeping or guessing at timing, and to prove a fault really hit the sync's requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

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
        #: how requests ended: their status, or :data:`DROPPED`
        self.endings: Counter[int | str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.before is not None:
            await self.before(self, self.requests, request)
        try:
            response = await self.inner.handle_async_request(request)
        except Exception:
            self.endings[DROPPED] += 1
            raise
        self.endings[response.status_code] += 1
        return response

    async def control(self, method: str, path: str, json: object = None) -> httpx.Response:
        """Send a ``/_emulator/`` request straight to the emulator (not through ``before``)."""
        async with httpx.AsyncClient(transport=self.inner, base_url="http://emulator") as api:
            response = await api.request(method, path, json=json)
        response.raise_for_status()
        return response
