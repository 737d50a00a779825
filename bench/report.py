"""The results: a table on the terminal, a JSON file with every figure, and a chart."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.charts import write_chart, write_distributions
from bench.figures import Figure, ScenarioResult


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
    }


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def table(figures: list[Figure]) -> str:
    """The figures beside their targets and ratios, as aligned text."""
    rows = [("scenario", "figure", "value", "target", "ratio", "met")]
    for f in figures:
        sign = {"max": "≤ ", "min": "≥ ", "info": "baseline "}[f.kind]
        target = "–" if f.target is None else f"{sign}{f.target:g}"
        met = {True: "yes", False: "NO", None: ""}[f.met]
        ratio = "–" if f.ratio is None else f"{f.ratio:.2f}"
        rows.append((f.scenario, f.name, f"{_number(f.value)} {f.unit}", target, ratio, met))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def write_results(
    out: Path, results: dict[str, ScenarioResult], *, quick: bool, seconds: float
) -> tuple[Path, list[Path]]:
    """Write ``results.json`` and ``results.png`` into ``out``, and ``<scenario>.png`` with the
    distribution of each scenario's samples (propagation delays); returns the JSON file's path
    and the charts'."""
    out.mkdir(parents=True, exist_ok=True)
    figures = [f for r in results.values() for f in r.figures]
    document: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": machine(),
        "mode": "quick" if quick else "full",
        "seconds": round(seconds, 1),
        "figures": [f.to_json() for f in figures],
        "series": {n: s for r in results.values() for n, s in r.series.items()},
        "samples": {n: s for r in results.values() for n, s in r.samples.items()},
        "details": {name: r.details for name, r in results.items()},
    }
    json_path = out / "results.json"
    json_path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    # Left: each target's ratio (1.0 is the target). Right: the engine's growth with size, and
    # the sorted propagation delays when measured.
    ratios = [min(f.ratio, 5.0) for f in figures if f.ratio is not None and f.kind != "info"]
    curves = [list(s) for s in document["series"].values()]
    curves += [
        [(float(i), v) for i, v in enumerate(sorted(values))]
        for values in document["samples"].values()
        if values
    ]
    png_path = out / "results.png"
    write_chart(png_path, ratios, curves)
    charts = [png_path]
    for name, result in results.items():
        samples = {n: values for n, values in result.samples.items() if values}
        if samples:
            charts.append(out / f"{name}.png")
            write_distributions(
                charts[-1],
                samples,
                result.marks,
                result.points,
                result.points_title,
            )
    return json_path, charts
