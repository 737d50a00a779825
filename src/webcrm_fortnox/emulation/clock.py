"""A clock the tests can move forward instead of sleeping.

The emulated time is the real time plus an offset. Advancing it moves both the wall clock (what
``lastmodified`` filters and token expiry read) and the monotonic clock (what rate-limit windows
read), so one ``advance(3600)`` expires every token and empties every window at once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class EmulatorClock:
    """Real time plus a settable offset."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> datetime:
        """The emulated wall-clock time, timezone-aware UTC."""
        return datetime.fromtimestamp(time.time() + self.offset, tz=UTC)

    def timestamp(self) -> float:
        """The emulated wall-clock time in POSIX seconds."""
        return time.time() + self.offset

    def monotonic(self) -> float:
        """Monotonic seconds, moved by :meth:`advance` like the wall clock."""
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        """Move time forward (never backwards: windows and expiries assume monotonic time)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += seconds

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (must not be in the emulated past)."""
        self.advance(when.timestamp() - self.timestamp())
