"""Serving an emulator app as a real HTTP (and WebSocket) server."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI


def serve(app: FastAPI, host: str, port: int, *, log_level: str = "warning") -> None:
    """Run ``app`` on ``host:port`` until interrupted."""
    # The app dates its answers by its own (movable) clock; uvicorn's Date would be a second one.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        ws="websockets-sansio",
        date_header=False,
    )
