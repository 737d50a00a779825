"""Where Fortnox lives. The real service spreads over three hosts; the emulator serves all three."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FortnoxUrls:
    """The three roots a Fortnox client talks to.

    Attributes:
        api: the REST root; resources live under ``{api}/3/``.
        auth: the OAuth root; ``{auth}/oauth-v1/token`` and friends.
        websocket: the change-feed endpoint itself.
    """

    api: str = "https://api.fortnox.se"
    auth: str = "https://apps.fortnox.se"
    websocket: str = "wss://ws.fortnox.se/topics-v1"

    @classmethod
    def single_host(cls, base_url: str) -> FortnoxUrls:
        """All three on one host, as the emulator serves them (``http://127.0.0.1:8781``)."""
        base = base_url.rstrip("/")
        scheme, _, rest = base.partition("://")
        ws_scheme = {"https": "wss", "http": "ws"}.get(scheme, scheme)
        return cls(api=base, auth=base, websocket=f"{ws_scheme}://{rest}/topics-v1")
