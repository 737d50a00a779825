"""``webcrm-fortnox demo --quick``, then ``status --json`` on what it left behind."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from webcrm_fortnox.cli import app


def test_the_quick_demo_runs_the_whole_product_and_status_reads_it(tmp_path: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "200"})
    folder = tmp_path / "demo"

    result = runner.invoke(app, ["demo", "--quick", "--duration", "2", "--folder", str(folder)])

    assert result.exit_code == 0, result.output
    out = result.output
    assert "initial import of customers" in out and "Summary" in out
    assert "Propagation webCRM → Fortnox" in out and "Propagation Fortnox → webCRM" in out
    assert "Conflict: webCRM '08-111 11 11' vs Fortnox '08-222 22 22'" in out
    assert "Refused: customer webCRM " in out
    assert (
        "'Inklistrad Adress AB', field VisitingAddress (code 2001392): Fortnox refused it:" in out
    )
    config = folder / "webcrm-fortnox.toml"
    assert f"webcrm-fortnox status --config {config}" in out
    assert (folder / "service.log").read_text().startswith("{")

    status = runner.invoke(app, ["status", "--json", "--config", str(config)])

    assert status.exit_code == 0, status.output
    (tenant,) = json.loads(status.output)["tenants"]
    assert tenant["tenant"] == "demo" and tenant["state"] == "ok"
    customers = tenant["entities"]["customer"]
    assert customers["in_sync"] >= 30 and customers["excluded"] >= 10
    assert customers["failing"] == 1  # the customer Fortnox refused
    assert tenant["entities"]["article"]["in_sync"] == 12
    assert tenant["last_cycle"]["status"] == "completed"
    assert tenant["next_cycle_at"] and tenant["last_success_at"]
    assert tenant["connections"]["fortnox"] == "service account"
