"""Binding a listening socket before a server starts, so a busy port is one plain error.

uvicorn, left to bind by itself, logs the failure and ends the process with ``sys.exit(3)``,
which a command cannot tell from its own exit status 3 ("records need attention"). Binding first
lets the command say which address is taken and which flag moves it, and exit 1.
"""

from __future__ import annotations

import errno
import socket


class PortUnavailableError(OSError):
    """The address cannot be listened on; ``str()`` names it and why, e.g. ``cannot listen on
    127.0.0.1:9464: the port is in use``."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {reason}")
        self.host = host
        self.port = port


def _reason(error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "the port is in use"
    if error.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    if error.errno == errno.EADDRNOTAVAIL:
        return "no such address on this machine"
    return error.strerror or str(error)


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port) and listening.

    Raises:
        PortUnavailableError: the address is taken, not on this machine, or not permitted.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise PortUnavailableError(host, port, error.strerror or str(error)) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # As uvicorn does: a restart may take over a port whose old connections linger.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise PortUnavailableError(host, port, _reason(error)) from None
    sock.set_inheritable(True)
    return sock
