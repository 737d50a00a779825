"""Serving an emulator app as a real HTTP (and WebSocket) server."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from webcrm_fortnox.transport.listening import listening_socket


def serve(
    app: FastAPI,
    host: str,
    port: int,
    *,
    listening: Callable[[int], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Run ``app`` on ``host:port`` until interrupted.

    Args:
        app: the emulator.
        host: the address to listen on.
        port: its port (0: a free one).
        listening: called with the port once it is bound, before the first request is served
            (a command prints its address there, so nothing is printed for a busy port).
        log_level: uvicorn's.

    Raises:
        PortUnavailableError: the port could not be bound; nothing was served.
    """
    sock = listening_socket(host, port)
    try:
        if listening is not None:
            listening(int(sock.getsockname()[1]))
        # The app dates its answers by its own (movable) clock; uvicorn's Date would be a
        # second one.
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            ws="websockets-sansio",
            date_header=False,
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
