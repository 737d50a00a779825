"""The tenant page's charts, drawn on the server with matplotlib as SVG.

Each chart is its own figure on an Agg canvas (no pyplot: no global state, safe in a server's
threads), rendered to SVG text the page serves as an image. Both cover the last
:data:`HOURS` hours, one point or bar per hour, so a tenant's charts read alike.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

#: The hours a chart covers, ending with the current one.
HOURS = 24
_BLUE, _ORANGE = "#1f77b4", "#ff7f0e"


def _hours(now: datetime) -> list[datetime]:
    top = now.replace(minute=0, second=0, microsecond=0)
    return [top - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]


def _svg(figure: Figure) -> str:
    figure.tight_layout()
    out = io.StringIO()
    # no metadata: the same data draws the same bytes (no creation date)
    figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=(6.4, 2.4), dpi=100)
    FigureCanvasAgg(figure)
    return figure, figure.subplots()


def _time_axis(axes: Axes, hours: Sequence[datetime]) -> None:
    """The x axis: hour ``i`` of ``hours`` spans [i, i + 1], every third one labelled."""
    axes.set_xlim(0, len(hours))
    ticks = list(range(0, len(hours), 3))
    axes.set_xticks(ticks, [hours[i].strftime("%H:00") for i in ticks])


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def lag_chart(samples: Iterable[tuple[datetime, float]], now: datetime) -> str:
    """Propagation lag per hour: the p50 and p95 of the samples (when, seconds) of each hour.

    Hours without a sample are left out of the lines rather than drawn as zero.
    """
    hours = _hours(now)
    buckets: dict[datetime, list[float]] = {hour: [] for hour in hours}
    for at, seconds in samples:
        hour = at.replace(minute=0, second=0, microsecond=0)
        if hour in buckets:
            buckets[hour].append(seconds)
    figure, axes = _figure()
    measured = [hour for hour in hours if buckets[hour]]
    for fraction, label, colour in ((0.5, "p50", _BLUE), (0.95, "p95", _ORANGE)):
        axes.plot(
            [hours.index(hour) + 0.5 for hour in measured],
            [percentile(buckets[hour], fraction) for hour in measured],
            marker="o",
            markersize=3,
            color=colour,
            label=label,
        )
    _time_axis(axes, hours)
    axes.set_ylim(bottom=0)
    axes.set_ylabel("seconds")
    axes.set_title("Propagation lag per hour (UTC)", fontsize=10)
    if measured:
        axes.legend(fontsize=8, loc="upper left")
    else:
        axes.text(0.5, 0.5, "no lag measured yet", ha="center", transform=axes.transAxes)
    return _svg(figure)


def syncs_chart(started: Iterable[datetime], now: datetime) -> str:
    """Syncs per hour: the cycles started in each hour, as bars."""
    hours = _hours(now)
    counts = dict.fromkeys(hours, 0)
    for at in started:
        hour = at.replace(minute=0, second=0, microsecond=0)
        if hour in counts:
            counts[hour] += 1
    figure, axes = _figure()
    axes.bar(range(len(hours)), [counts[h] for h in hours], width=0.9, align="edge", color=_BLUE)
    _time_axis(axes, hours)
    axes.set_ylabel("syncs")
    axes.set_title("Syncs per hour (UTC)", fontsize=10)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _svg(figure)
