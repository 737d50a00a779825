"""A measured figure beside its target, and the ratio between them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

#: ``max``: the figure must not exceed the target; ``min``: it must reach it; ``info``: no target.
Kind = Literal["max", "min", "info"]


@dataclass(frozen=True)
class Figure:
    """One measurement.

    Attributes:
        scenario: which benchmark measured it, e.g. ``"idle"``.
        name: what it is, e.g. ``"API calls"``.
        value: the measured value.
        unit: e.g. ``"calls"``, ``"s"``, ``"MB"``.
        target: the value to stay under (``max``) or reach (``min``); ``None`` for ``info``.
        kind: how value and target compare.
        note: how it was measured, or why it is what it is.
    """

    scenario: str
    name: str
    value: float
    unit: str
    target: float | None = None
    kind: Kind = "info"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """value ÷ target (≤ 1 meets a ``max`` target, ≥ 1 a ``min`` one)."""
        if self.target is None or self.target == 0:
            return None
        return self.value / self.target

    @property
    def met(self) -> bool | None:
        """Whether the target is met; ``None`` when there is none."""
        if self.target is None or self.kind == "info":
            return None
        return self.value <= self.target if self.kind == "max" else self.value >= self.target

    def to_json(self) -> dict[str, Any]:
        """Everything about the figure, for the results file."""
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


@dataclass
class ScenarioResult:
    """What one benchmark produced: its figures, and series for the chart.

    Attributes:
        figures: the measurements shown in the table.
        series: named lists of (x, y) points, e.g. CPU time per record count.
        samples: named lists of raw values, e.g. every propagation delay.
        details: anything else worth keeping in the results file (call breakdowns).
        marks: by sample name, a value to mark on its distribution chart (its target).
        points: named lists of (x, y) points drawn as dots beside the distributions, e.g. each
            edit's delay by the moment it was made.
        points_title: what the points show.
    """

    figures: list[Figure] = field(default_factory=list)
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)
    points: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    points_title: str = ""
