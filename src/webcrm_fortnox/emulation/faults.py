"""Fault injection: the failures real APIs have, on demand.

Settings are changed at run time through ``/_emulator/faults``. Rates are probabilities per API
request; counts (``force_429``, ``force_5xx``) fail exactly that many next requests.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field


class FaultSettings(BaseModel):
    """What to break. All off by default."""

    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(0.0, ge=0, le=1, description="share of requests answered 5xx")
    error_status: int = Field(503, ge=500, le=599, description="the status of injected errors")
    latency_ms: float = Field(0.0, ge=0, description="delay added before every API request")
    drop_rate: float = Field(
        0.0, ge=0, le=1, description="share of requests whose connection drops before processing"
    )
    drop_after_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of requests carried out whose response is then lost (dropped mid-body)",
    )
    force_429: int = Field(0, ge=0, description="answer the next N API requests with 429")
    force_5xx: int = Field(0, ge=0, description="answer the next N API requests with error_status")
    spurious_401_rate: float = Field(
        0.0, ge=0, le=1, description="share of valid requests refused 401 (webCRM under load)"
    )
    duplicate_events_rate: float = Field(
        0.0, ge=0, le=1, description="share of change-feed events sent twice"
    )
    seed: int | None = Field(None, description="seed for the random draws, for repeatable runs")


class FaultInjector:
    """Draws the faults for each request from the current :class:`FaultSettings`."""

    def __init__(self) -> None:
        self.settings = FaultSettings()
        self._rng = random.Random()

    def configure(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._rng = random.Random(settings.seed)

    def chance(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def take_forced_429(self) -> bool:
        if self.settings.force_429 > 0:
            self.settings.force_429 -= 1
            return True
        return False

    def take_forced_5xx(self) -> bool:
        if self.settings.force_5xx > 0:
            self.settings.force_5xx -= 1
            return True
        return self.chance(self.settings.error_rate)
