"""Starting the real ``webcrm-fortnox`` command as a process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def cli_server(
    *args: str, ready_path: str = "/_emulator/health", timeout: float = 20.0
) -> Iterator[str]:
    """Run ``webcrm-fortnox <args> --port P`` and yield its base URL once it answers.

    Example: ``with cli_server("emulate", "fortnox", "--seed", "empty") as url: ...``
    """
    with cli_process(*args, ready_path=ready_path, timeout=timeout) as (url, _):
        yield url


@contextlib.contextmanager
def cli_process(
    *args: str, ready_path: str = "/_emulator/health", timeout: float = 20.0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """:func:`cli_server`, yielding the process too (a test may kill it mid-run)."""
    port = free_port()
    cmd = [sys.executable, "-m", "webcrm_fortnox", *args, "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    # Output goes to a file, never to a pipe nobody drains: a server that logs much (every
    # injected connection drop logs a traceback) would block on a full pipe and hang the test.
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(cmd, stdout=output, stderr=subprocess.STDOUT, env={**os.environ})
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    output.seek(0)
                    out = output.read().decode(errors="replace")
                    raise RuntimeError(f"{cmd} exited with {proc.returncode}:\n{out}")
                try:
                    if httpx.get(url + ready_path, timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{cmd} did not answer within {timeout} s")
                time.sleep(0.1)
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
