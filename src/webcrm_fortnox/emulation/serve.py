"""Serving an emulator app as a real HTTP (and WebSocket) server."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI


def serve(app: FastAPI, host: str, port: int, *, log_level: str = "warning") -> None:
    """Run ``app`` on ``host:port`` until interrupted."""
    uvicorn.run(app, host=host, port=port, log_level=log_level, ws="websockets-sansio")
