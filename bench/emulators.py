"""Both emulators as real processes on loopback, and what their request statistics say.

The benchmarks talk to the emulators over real HTTP so that the CPU time measured in this
process is the sync's own, never the emulators'. Each emulator counts every API request by
method, route template and status (``GET /_emulator/stats``); that count is the API cost.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

Vendor = Literal["fortnox", "webcrm"]

#: Requests that open a session or check the field setup rather than read or write records.
SESSION_ROUTES = frozenset({"/oauth-v1/token", "/Auth/ApiLogin", "/Auth/ApiRefresh"})
SETUP_ROUTE_PREFIX = "/FieldsMetadata"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def emulator_process(
    vendor: Vendor,
    *,
    rate_limit: bool,
    log: Path,
    timeout: float = 30.0,
    port: int | None = None,
    data: Path | None = None,
) -> Iterator[str]:
    """Run ``webcrm-fortnox emulate <vendor> --seed empty`` and yield its URL once it answers.

    Args:
        vendor: which emulator.
        rate_limit: whether it enforces the vendor's real limit.
        log: where its output goes.
        timeout: how long it may take to start.
        port: the port to listen on (default: a free one).
        data: a SQLite file keeping its state, so that a restart (e.g. with the rate limit
            switched on) finds the same data (default: memory only).
    """
    port = port or _free_port()
    cmd = [sys.executable, "-m", "webcrm_fortnox", "emulate", vendor, "--seed", "empty"]
    cmd += ["--port", str(port)]
    if data is not None:
        cmd += ["--data", str(data)]
    if not rate_limit:
        cmd.append("--no-rate-limit")
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}; see {log}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/_emulator/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{' '.join(cmd)} did not answer within {timeout} s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class Calls:
    """API requests one emulator counted, as rows of (method, route template, status, count)."""

    rows: tuple[tuple[str, str, int, int], ...]

    @classmethod
    def from_stats(cls, stats: Mapping[str, Any]) -> Calls:
        """Parse the body of ``GET /_emulator/stats``."""
        return cls(
            tuple(
                (row["method"], row["route"], int(row["status"]), int(row["count"]))
                for row in stats["requests"]
            )
        )

    @property
    def total(self) -> int:
        """Every API request, sign-ins included."""
        return sum(n for *_, n in self.rows)

    @property
    def session(self) -> int:
        """Sign-ins (tokens, logins) and field-setup checks."""
        return sum(
            n
            for _, route, _, n in self.rows
            if route in SESSION_ROUTES or route.startswith(SETUP_ROUTE_PREFIX)
        )

    @property
    def data(self) -> int:
        """Requests that read or wrote records."""
        return self.total - self.session

    @property
    def writes(self) -> int:
        """Requests that changed records."""
        return sum(
            n
            for method, route, _, n in self.rows
            if method in WRITE_METHODS and route not in SESSION_ROUTES
        )

    @property
    def rate_limited(self) -> int:
        """Requests answered 429."""
        return sum(n for *_, status, n in self.rows if status == 429)

    def by_route(self) -> dict[str, int]:
        """Counts by ``METHOD route``, for the results file."""
        out: dict[str, int] = {}
        for method, route, _, n in self.rows:
            key = f"{method} {route}"
            out[key] = out.get(key, 0) + n
        return out


class EmulatorControl:
    """The ``/_emulator/`` controls of one running emulator.

    Args:
        url: the emulator's base URL.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(base_url=url, timeout=300)

    async def close(self) -> None:
        await self.http.aclose()

    async def calls(self) -> Calls:
        """What it has counted since the statistics were last reset."""
        response = await self.http.get("/_emulator/stats")
        response.raise_for_status()
        return Calls.from_stats(response.json())

    async def reset_stats(self) -> None:
        (await self.http.delete("/_emulator/stats")).raise_for_status()

    async def advance(self, seconds: float) -> None:
        """Move its clock forward."""
        response = await self.http.post("/_emulator/clock/advance", json={"seconds": seconds})
        response.raise_for_status()

    async def seed(self, tenant: str, kind: str = "empty", **sizes: int) -> dict[str, Any]:
        """Reseed a tenant with ``kind`` data of the given sizes (``customers=…`` and the like)."""
        body = {"tenant": tenant, "seed": kind, **sizes}
        response = await self.http.post("/_emulator/seed", json=body)
        response.raise_for_status()
        return dict(response.json())

    async def add_tenant(self, **options: Any) -> dict[str, Any]:
        """Add a company (Fortnox: and another OAuth client, ``client_id``/``client_secret``)."""
        response = await self.http.post("/_emulator/tenants", json=options)
        response.raise_for_status()
        return dict(response.json())
