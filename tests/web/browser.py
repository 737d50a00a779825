"""A real browser (Debian's Chromium driven by Playwright) on the administrator's page, and the
product around it as processes: both emulators, ``run`` and ``admin``, over loopback.

Without ``/usr/bin/chromium`` the browser tests skip and say how to run them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
#: Headless on a machine without network access: nothing phones home, nothing updates.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Where the browser tests save a screenshot of each page (the README shows some).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
HOW_TO_RUN = (
    "the browser tests need Debian's Chromium: as root, `apt-get update && apt-get install -y "
    "chromium`, then `pytest tests/web` (.ci/run installs it when missing)"
)


def chromium_or_skip() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(HOW_TO_RUN)
    return CHROMIUM


class Emulator:
    """One emulator process's API, signed in as the tenant's integration."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=url, headers=headers, timeout=20)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.http.request(method, path, **kwargs)
        answer.raise_for_status()
        return answer.json() if answer.content else None


def fortnox_api(url: str, client_id: str, secret: str, tenant_id: int) -> Emulator:
    token = httpx.post(
        f"{url}/oauth-v1/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        headers={"TenantId": str(tenant_id)},
    ).json()["access_token"]
    return Emulator(url, {"Authorization": f"Bearer {token}"})


def webcrm_api(url: str, api_token: str) -> Emulator:
    token = httpx.post(f"{url}/Auth/ApiLogin", data={"authCode": api_token}).json()["AccessToken"]
    return Emulator(url, {"Authorization": f"Bearer {token}"})


def webcrm_fortnox(*args: str, env: dict[str, str] | None = None) -> str:
    """Run one command to its end; its output (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-m", "webcrm_fortnox", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
        check=False,
    )
    assert done.returncode in (0, 3), f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass
class Process:
    """A long-running command and the file its output goes to."""

    proc: subprocess.Popen[bytes]
    output: Path

    def text(self) -> str:
        return self.output.read_text(errors="replace")


@contextmanager
def process(*args: str, env: dict[str, str] | None = None) -> Iterator[Process]:
    """``webcrm-fortnox ARGS`` running until the block ends (SIGTERM, then wait)."""
    with tempfile.NamedTemporaryFile(suffix=".log", delete=False) as log:
        path = Path(log.name)
    with path.open("wb") as output:
        proc = subprocess.Popen(
            [sys.executable, "-m", "webcrm_fortnox", *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        try:
            yield Process(proc, path)
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    path.unlink(missing_ok=True)


def until(check: Callable[[], bool], what: str, patience: float = 30.0) -> None:
    """Wait until ``check`` holds; fail naming ``what`` after ``patience`` seconds."""
    deadline = time.monotonic() + patience
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {patience} s")
        time.sleep(0.2)
