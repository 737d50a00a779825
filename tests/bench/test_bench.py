"""``python -m bench --quick`` still runs end to end; nothing here is about time."""

from __future__ import annotations

import json
from pathlib import Path

from bench.main import SCENARIOS, main


def test_the_quick_benchmark_writes_every_figure_with_machine_and_commit(
    tmp_path: Path, capsys: object
) -> None:
    assert main(["--quick", "--out", str(tmp_path)]) == 0

    results = json.loads((tmp_path / "results.json").read_text())
    scenarios = {figure["scenario"] for figure in results["figures"]}
    assert {"idle", "incremental", "rate limit", "latency", "engine", "idle cycle"} <= scenarios
    assert set(results["details"]) == set(SCENARIOS)
    assert results["machine"]["cores"] >= 1 and len(results["commit"]) in (7, 40, len("unknown"))
    targeted = [f for f in results["figures"] if f["kind"] != "info"]
    assert targeted and all(f["met"] in (True, False) for f in targeted)
    assert (tmp_path / "results.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # every edit of the latency run arrived, and its delays are charted
    latency = results["details"]["latency"]
    assert all(edit["latency"] is not None for edit in latency["edits"])
    assert latency["service_exit_status"] == 0
    assert (tmp_path / "latency.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
