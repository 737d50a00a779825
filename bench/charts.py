"""The benchmark's charts, drawn with matplotlib (the product's own chart library).

Two kinds: ``results.png`` (each target's ratio as bars, the engine's growth with size as
lines) and, per scenario with samples, the cumulative distribution of its propagation delays
with the target marked.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: The colours of the series, in order (matplotlib's first four): targets are drawn in the second.
PALETTE: tuple[str, ...] = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
#: Pixels per inch of the files: the figure sizes below are in pixels / DPI.
DPI = 100


def _figure(width: int, height: int) -> Figure:
    """A figure of ``width`` × ``height`` pixels on its own Agg canvas: no pyplot, so no
    global state and no display, whichever process or thread draws."""
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def write_chart(
    path: Path,
    bar_values: Sequence[float],
    line_series: Sequence[Sequence[tuple[float, float]]],
) -> None:
    """Two panels: bars on the left (each target's ratio), lines on the right (growth), each
    line scaled to its own largest value so that curves of different units share the panel."""
    figure = _figure(800, 320)
    left, right = figure.subplots(1, 2)
    left.bar(
        range(len(bar_values)),
        bar_values,
        color=[PALETTE[i % len(PALETTE)] for i in range(len(bar_values))],
    )
    left.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    left.set_title("ratio to target (1 = target)", fontsize=9)
    for n, points in enumerate(line_series):
        if len(points) < 2:
            continue
        x_max = max(max(x for x, _ in points), 1e-9)
        y_max = max(max(y for _, y in points), 1e-9)
        right.plot(
            [x / x_max for x, _ in points],
            [y / y_max for _, y in points],
            color=PALETTE[n % len(PALETTE)],
        )
    right.set_title("growth (each curve scaled to its maximum)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, format="png")


def distribution(axes: Axes, title: str, values: Sequence[float], mark: float | None) -> None:
    """The cumulative distribution of ``values`` (seconds): a step line from 0 to 100 %, guides
    at 50 % and 95 %, and ``mark`` (a target) as a red vertical line."""
    ordered = sorted(values)
    heading = title
    if ordered:
        p50 = statistics.median(ordered)
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
        heading += f"\nn {len(ordered)}  p50 {p50:.1f} s  p95 {p95:.1f} s  max {ordered[-1]:.1f} s"
        fractions = [i / len(ordered) for i in range(1, len(ordered) + 1)]
        axes.step([0.0, *ordered], [0.0, *fractions], where="post", color=PALETTE[0])
    axes.set_title(heading, fontsize=9)
    for fraction in (0.5, 0.95):
        axes.axhline(fraction, color="lightgrey", linewidth=0.8)
    axes.set_yticks([0.5, 0.95, 1.0], ["50%", "95%", ""])
    axes.set_ylim(0, 1.02)
    axes.set_xlim(0, max([*ordered, mark or 0.0, 1e-9]) * 1.05)
    axes.set_xlabel("seconds")
    if mark is not None:
        axes.axvline(mark, color=PALETTE[1], linewidth=2, label=f"target {mark:g} s")
        axes.legend(loc="lower right", fontsize=8)


def scatter(axes: Axes, title: str, series: Mapping[str, Sequence[tuple[float, float]]]) -> None:
    """Each named list of (x, y) points as dots of its own colour, on shared axes from 0."""
    for n, (name, points) in enumerate(series.items()):
        axes.scatter(
            [x for x, _ in points],
            [y for _, y in points],
            s=12,
            color=PALETTE[n % len(PALETTE)],
            label=name,
        )
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=8)


def write_distributions(
    path: Path,
    samples: Mapping[str, Sequence[float]],
    marks: Mapping[str, float],
    points: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    points_title: str = "",
) -> None:
    """One cumulative-distribution panel per named list of seconds, side by side (440 pixels
    across each), and a last panel with ``points`` as dots when there are any."""
    panels = max(1, len(samples) + (1 if points else 0))
    figure = _figure(440 * panels, 340)
    grid = figure.subplots(1, panels, squeeze=False)
    for axes, (name, values) in zip(grid[0], samples.items(), strict=False):
        distribution(axes, name, values, marks.get(name))
    if points:
        scatter(grid[0][len(samples)], points_title, points)
    figure.tight_layout()
    figure.savefig(path, format="png")
