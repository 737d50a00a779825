"""Serving an ASGI app with uvicorn inside the running event loop.

The service's ``/metrics`` and ``/healthz`` server, and the demo's two emulators, run as tasks of
the same loop as the sync, so one process and one Ctrl-C cover everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn

from webcrm_fortnox.transport.listening import listening_socket


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the program: it stops when told to, and never
    re-raises a Ctrl-C it caught (the service handles that itself)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(
    app: Any, host: str = "127.0.0.1", port: int = 0, *, date_header: bool = True
) -> AsyncIterator[str]:
    """Serve ``app`` on ``host:port`` (0: a free port) and yield its base URL until the block ends.

    ``date_header=False`` leaves the ``Date`` header to the app: the emulators date their answers
    by their own movable clock, and a second ``Date`` would make the pair unreadable (the webCRM
    client reads webCRM's time from it).

    Raises:
        PortUnavailableError: the port could not be bound.
    """
    sock = listening_socket(host, port)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        ws="websockets-sansio",
        lifespan="off",
        log_config=None,
        date_header=date_header,
        # Open keep-alive and WebSocket connections must not hold a stop up.
        timeout_graceful_shutdown=1,
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises why it could not start
                raise OSError(f"the server on {host}:{port} could not start")
            await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 5)
        sock.close()
