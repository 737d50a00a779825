"""Starting the real ``webcrm-fortnox`` command as a process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
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
    port = free_port()
    cmd = [sys.executable, "-m", "webcrm_fortnox", *args, "--port", str(port)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"{cmd} exited with {proc.returncode}:\n{out}")
            try:
                if httpx.get(url + ready_path, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{cmd} did not answer within {timeout} s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
