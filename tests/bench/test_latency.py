"""The latency benchmark's arithmetic, plan and chart (the run itself is in test_bench)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

from bench.charts import PALETTE, write_distributions
from bench.latency import Edit, metric_sums, percentile, plan_edits, sync_log
from matplotlib.colors import to_rgb
from PIL import Image


def _columns_with(path: Path, colour: str) -> set[int]:
    """The x of every pixel of ``path`` drawn in ``colour`` (give or take antialiasing)."""
    want = [round(255 * c) for c in to_rgb(colour)]
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        pixels = rgb.load()
        assert pixels is not None
        return {
            x
            for x in range(width)
            for y in range(height)
            if all(abs(a - b) <= 12 for a, b in zip(pixels[x, y], want, strict=True))
        }


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(50, 0, -1)]

    assert percentile(values, 0.95) == 48.0
    assert percentile(values, 0.5) == 25.0
    assert percentile([3.0], 0.95) == 3.0


def test_the_plan_edits_distinct_customers_on_each_side_within_the_window() -> None:
    links = [(str(1000 + i), str(i)) for i in range(1, 31)]

    plan = plan_edits(links, 10, 60.0, random.Random(4))

    assert plan == plan_edits(links, 10, 60.0, random.Random(4))
    by_side = {side: [e for e in plan if e.side == side] for side in ("fortnox", "webcrm")}
    assert len(by_side["fortnox"]) == len(by_side["webcrm"]) == 10
    pairs = {(e.target, e.source) if e.side == "fortnox" else (e.source, e.target) for e in plan}
    assert len(pairs) == 20 and pairs <= set(links)
    assert len({e.value for e in plan}) == 20
    assert all(0 <= e.at <= 60.0 for e in plan)
    assert [e.at for e in plan] == sorted(e.at for e in plan)


def test_an_edit_has_a_latency_only_once_made_and_seen() -> None:
    edit = Edit("fortnox", "7", "1007", "08-640 00 01", at=1.0)
    assert edit.latency is None
    edit.edited = 100.0
    assert edit.latency is None
    edit.seen = 102.5
    assert edit.latency == 2.5


def test_metric_sums_add_up_the_labels_of_the_service_exposition() -> None:
    exposition = "\n".join(
        [
            "# HELP webcrm_fortnox_api_calls_total HTTP requests sent",
            'webcrm_fortnox_api_calls_total{system="webcrm",tenant="a"} 12.0',
            'webcrm_fortnox_api_calls_total{system="webcrm",tenant="b"} 3.0',
            'webcrm_fortnox_api_calls_total{system="fortnox",tenant="a"} 5.0',
            'webcrm_fortnox_syncs_total{result="completed",tenant="a",trigger="webcrm poll"} 2.0',
            "webcrm_fortnox_unlabelled 1.5",
        ]
    )

    sums = metric_sums(exposition)

    assert sums["webcrm_fortnox_api_calls_total"] == {"webcrm": 15.0, "fortnox": 5.0}
    assert sums["webcrm_fortnox_syncs_total"] == {"webcrm poll": 2.0}
    assert sums["webcrm_fortnox_unlabelled"] == {"": 1.5}


def test_the_distribution_chart_marks_the_target(tmp_path: Path) -> None:
    path = tmp_path / "latency.png"

    write_distributions(path, {"a → b": [0.5, 1.0, 4.0], "b → a": []}, {"a → b": 5.0})

    with Image.open(path) as image:
        assert image.size == (880, 340)
    red, blue = _columns_with(path, PALETTE[1]), _columns_with(path, PALETTE[0])
    assert any(x < 440 for x in red)
    assert any(x < 440 for x in blue)
    assert not any(x >= 440 for x in blue)


def test_the_sync_log_counts_each_syncs_requests_and_full_customer_reads() -> None:
    def request(at: str, method: str, url: str) -> str:
        message = f'HTTP Request: {method} {url} "HTTP/1.1 200 OK"'
        return json.dumps({"time": at, "logger": "httpx", "message": message})

    def synced(at: str, seconds: float) -> str:
        counts = {"customer": {"synced": 1}}
        return json.dumps(
            {"time": at, "message": "tenant synced", "trigger": "fortnox customers",
             "seconds": seconds, "counts": counts}
        )  # fmt: skip

    lines = [
        request("2026-01-01T10:00:00.000+00:00", "GET", "http://f/3/customers/7"),
        synced("2026-01-01T10:00:01.000+00:00", 0.5),
        "not json",
        request("2026-01-01T10:00:02.000+00:00", "GET", "http://f/3/customers?lastmodified=x"),
        request("2026-01-01T10:00:02.100+00:00", "GET", "http://f/3/customers/7"),
        request("2026-01-01T10:00:02.200+00:00", "GET", "http://f/3/customers/8"),
        request("2026-01-01T10:00:02.300+00:00", "PUT", "http://f/3/customers/8"),
        request("2026-01-01T10:00:02.400+00:00", "GET", "http://w/Queries?script=s"),
        synced("2026-01-01T10:00:03.000+00:00", 1.5),
    ]

    syncs = sync_log(lines, datetime(2026, 1, 1, 10, 0, 2, tzinfo=UTC))

    assert len(syncs) == 1
    assert syncs[0]["seconds"] == 1.5 and syncs[0]["trigger"] == "fortnox customers"
    assert syncs[0]["requests"] == {"fortnox": 4, "webcrm": 1}
    assert syncs[0]["fortnox_customers_read_in_full"] == 2


def test_the_points_get_a_panel_of_their_own(tmp_path: Path) -> None:
    path = tmp_path / "latency.png"

    write_distributions(
        path, {"a → b": [1.0]}, {}, {"a → b": [(10.0, 1.0)], "b → a": [(20.0, 3.0)]}, "delays"
    )

    with Image.open(path) as image:
        assert image.size == (880, 340)
    red = _columns_with(path, PALETTE[1])
    assert any(x >= 440 for x in red)
    assert not any(x < 440 for x in red)
