"""A port somebody else listens on: one line naming it and the flag that moves it, exit 1.

Run as real processes: uvicorn, left to bind by itself, ends the process with its own status 3,
which is what the sync's "records need attention" looks like to a script.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.harness import tenant, write_tenant_config
from tests.e2e.test_processes import webcrm_fortnox

pytestmark = pytest.mark.e2e


@contextmanager
def taken_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_run_with_its_metrics_port_taken_says_so_in_one_line(tmp_path: Path) -> None:
    unreachable = {"base_url": "http://127.0.0.1:9", "auth_url": "http://127.0.0.1:9"}
    config = tenant(fortnox=unreachable, webcrm={"base_url": "http://127.0.0.1:9"})
    path = write_tenant_config(tmp_path / "sync.toml", f"sqlite:///{tmp_path / 's.db'}", config)
    with taken_port() as port:
        done = webcrm_fortnox("run", "--config", str(path), "--metrics-port", str(port))
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        f"cannot listen on 127.0.0.1:{port}: the port is in use; choose another with "
        "--metrics-port (0 serves no metrics)"
    ]


@pytest.mark.parametrize("system", ["fortnox", "webcrm"])
def test_an_emulator_on_a_taken_port_prints_no_address(system: str) -> None:
    with taken_port() as port:
        done = webcrm_fortnox("emulate", system, "--port", str(port))
    assert done.returncode == 1
    assert done.stdout == ""  # no address it does not serve
    assert done.stderr.splitlines() == [
        f"cannot listen on 127.0.0.1:{port}: the port is in use; choose another with --port"
    ]
