"""A faithful emulator of the Fortnox API v3: REST under ``/3/``, OAuth2 under ``/oauth-v1/``,
the WebSocket change feed at ``/topics-v1`` and test controls under ``/_emulator/``.

Use :func:`create_app` for an in-process ASGI app, or ``webcrm-fortnox emulate fortnox`` for a
server.
"""

from webcrm_fortnox.fortnox.emulator.app import create_app
from webcrm_fortnox.fortnox.emulator.state import FortnoxEmulator

__all__ = ["FortnoxEmulator", "create_app"]
