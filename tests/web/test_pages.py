"""The fleet and tenant pages, their fragments, and actions recorded as requests."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import procrastinate
import pytest

from tests.web.site import Site, csrf_of, site
from webcrm_fortnox.service.jobs import create_app, defer_syncs
from webcrm_fortnox.store.queries import ReadModel
from webcrm_fortnox.store.requests import AdminRequests, RequestState


def _tenants(html: str) -> list[str]:
    return re.findall(r'<a href="/tenants/([^"]+)">', html)


async def _signed_in(s: Site, http: httpx.AsyncClient, name: str = "anna") -> str:
    await s.sign_in(http, name)
    return await s.csrf(http)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_fleet_filters_by_name_health_and_errors_on_the_server(
    tmp_path: Path, backend: str
) -> None:
    async with site(tmp_path, backend=backend) as s, s.client() as http:
        await _signed_in(s, http)

        everyone = await http.get("/fleet")
        by_name = await http.get("/fleet/rows", params={"name": "OL"})
        failing = await http.get("/fleet/rows", params={"health": "failing"})
        never = await http.get("/fleet", params={"health": "never run"})
        with_errors = await http.get("/fleet/rows", params={"errors": "yes"})
        without = await http.get("/fleet/rows", params={"errors": "no", "name": "c"})

    assert _tenants(everyone.text) == ["acme", "bolt", "cedar"]
    assert _tenants(by_name.text) == ["bolt"]
    assert _tenants(failing.text) == ["bolt"] and "webCRM is down" in failing.text
    assert _tenants(never.text) == ["cedar"]
    assert _tenants(with_errors.text) == ["acme"]
    assert _tenants(without.text) == ["cedar"]
    assert "<html" not in by_name.text  # a fragment, not a page


async def test_the_fleet_pages_on_the_server(tmp_path: Path) -> None:
    names = [f"t{i:03d}" for i in range(120)]
    async with site(tmp_path, configured=names) as s, s.client() as http:
        await _signed_in(s, http)

        first = await http.get("/fleet")
        third = await http.get("/fleet", params={"page": 2})

    assert _tenants(first.text) == names[:50] and "120 tenants, 1–50 shown" in first.text
    assert 'href="/fleet?&page=1"' in first.text or 'href="/fleet?page=1"' in first.text
    assert _tenants(third.text) == names[100:]
    assert "next →" not in third.text and "← previous" in third.text


async def test_the_tenant_page_shows_counts_errors_conflicts_side_by_side_and_charts(
    tmp_path: Path,
) -> None:
    async with site(tmp_path) as s, s.client() as http:
        await _signed_in(s, http)

        page = await http.get("/tenants/acme")
        lag = await http.get("/tenants/acme/charts/lag.svg")
        syncs = await http.get("/tenants/acme/charts/syncs.svg")
        missing = await http.get("/tenants/nobody")

    text = page.text
    assert page.status_code == 200
    assert "Description too long" in text and "<code>2000359</code>" in text
    assert "the description is too long" in text and "Very long article" in text
    conflict = re.search(r'<tr data-conflict="\d+">(.*?)</tr>', text, re.S)
    assert conflict and "08-111" in conflict.group(1) and "08-222" in conflict.group(1)
    assert "Take webCRM" in text and "Take Fortnox" in text
    assert "Sync now" in text and "Start the import" in text
    assert lag.headers["content-type"].startswith("image/svg+xml") and "<svg" in lag.text
    assert "<svg" in syncs.text
    assert missing.status_code == 404 and "there is no tenant nobody" in missing.text


async def test_a_revoked_grant_shows_how_to_reconnect(tmp_path: Path) -> None:
    async with site(tmp_path) as s, s.client() as http:
        dana = s.db.tenant("cedar")
        cycle = await dana.start_cycle("cycle", "incremental")
        health = {"state": "reconnect needed", "reason": "Fortnox revoked the grant"}
        await dana.finish_cycle(cycle, "stopped", {}, "grant revoked", health)
        await _signed_in(s, http)

        cedar = await http.get("/tenants/cedar")
        acme = await http.get("/tenants/acme")

    assert "webcrm-fortnox connect fortnox --tenant cedar" in cedar.text
    assert "Fortnox revoked the grant" in cedar.text
    assert "connect fortnox" not in acme.text


async def test_a_refused_webcrm_token_says_which_key_to_fix_not_to_connect_fortnox(
    tmp_path: Path,
) -> None:
    async with site(tmp_path) as s, s.client() as http:
        cedar = s.db.tenant("cedar")
        cycle = await cedar.start_cycle("cycle", "incremental")
        reason = "webCRM: the API token was refused; check tenant[2].webcrm.api_token in x.toml"
        await cedar.finish_cycle(
            cycle, "stopped", {}, reason, {"state": "reconnect needed", "reason": reason}
        )
        await _signed_in(s, http)

        page = await http.get("/tenants/cedar")

    assert "check tenant[2].webcrm.api_token in x.toml" in page.text
    assert "connect fortnox" not in page.text


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_actions_record_requests_for_the_runner(tmp_path: Path, backend: str) -> None:
    async with site(tmp_path, backend=backend) as s, s.client() as http:
        csrf = await _signed_in(s, http)
        read = ReadModel(s.db)
        error = (await read.errors(tenant="acme")).rows[0].error
        conflict = (await read.conflicts(tenant="acme")).rows[0].conflict

        posted = [
            await http.post("/tenants/acme/errors/retry", data={"csrf": csrf, "one": error.id}),
            await http.post(
                "/tenants/acme/errors/retry",
                data={"csrf": csrf, "scope": "selected", "error_id": [str(error.id)]},
            ),
            await http.post("/tenants/acme/errors/retry", data={"csrf": csrf, "scope": "all"}),
            await http.post(
                f"/tenants/acme/conflicts/{conflict.id}/take",
                data={"csrf": csrf, "side": "fortnox"},
            ),
            await http.post("/tenants/acme/pause", data={"csrf": csrf, "reason": "month end"}),
            await http.post("/tenants/acme/resume", data={"csrf": csrf}),
            await http.post("/tenants/acme/import", data={"csrf": csrf}),
        ]
        refused = [
            await http.post("/tenants/bolt/errors/retry", data={"csrf": csrf, "one": error.id}),
            await http.post(
                f"/tenants/bolt/conflicts/{conflict.id}/take",
                data={"csrf": csrf, "side": "webcrm"},
            ),
            await http.post(
                f"/tenants/acme/conflicts/{conflict.id}/take", data={"csrf": csrf, "side": "both"}
            ),
            await http.post("/tenants/acme/matches/999/accept", data={"csrf": csrf}),
            await http.post("/tenants/nobody/sync", data={"csrf": csrf}),
        ]
        made = (await read.requests()).rows

    assert [p.status_code for p in posted] == [303] * 7
    assert posted[0].headers["location"] == "/tenants/acme#requests"
    assert [p.status_code for p in refused] == [404, 404, 400, 404, 404]
    assert [(r.tenant, r.kind.value, dict(r.arguments), r.requested_by) for r in made[::-1]] == [
        ("acme", "retry", {"error_ids": [error.id]}, "anna"),
        ("acme", "retry", {"error_ids": [error.id]}, "anna"),
        ("acme", "retry", {}, "anna"),
        ("acme", "take", {"conflict_id": conflict.id, "side": "fortnox"}, "anna"),
        ("acme", "pause", {"reason": "month end"}, "anna"),
        ("acme", "resume", {}, "anna"),
        ("acme", "import", {}, "anna"),
    ]
    assert all(r.state == RequestState.PENDING for r in made)


async def test_the_requests_fragment_shows_the_outcome_and_says_when_one_settled(
    tmp_path: Path,
) -> None:
    async with site(tmp_path) as s, s.client() as http:
        csrf = await _signed_in(s, http)
        htmx = {"HX-Request": "true"}
        answer = await http.post("/tenants/acme/sync", data={"csrf": csrf}, headers=htmx)
        request_id = (await ReadModel(s.db).requests()).rows[0].id
        waiting = await http.get("/tenants/acme/requests", params={"watch": request_id})

        store = AdminRequests(s.db)
        claimed = await store.claim("acme", "test runner")
        assert claimed is not None and claimed.id == request_id
        await store.finish(request_id, RequestState.DONE, "synced: 3 records")
        settled = await http.get("/tenants/acme/requests", params={"watch": request_id})
        later = await http.get("/tenants/acme/requests")

    # the answer to an htmx post is the requests fragment, polling while the request waits
    assert answer.status_code == 200 and 'id="requests"' in answer.text
    assert f"watch={request_id}" in answer.text and 'hx-trigger="every 2s"' in answer.text
    assert "HX-Trigger" not in waiting.headers and "pending" in waiting.text
    assert settled.headers["HX-Trigger"] == "settled" and "synced: 3 records" in settled.text
    assert "every 2s" not in settled.text  # nothing left to wait for
    assert "HX-Trigger" not in later.headers


async def test_every_fragment_has_a_route_of_its_own(tmp_path: Path) -> None:
    async with site(tmp_path) as s, s.client() as http:
        await _signed_in(s, http)
        page = await http.get("/tenants/acme")
        routes = set(re.findall(r'hx-get="(/tenants/acme/[a-z]+)"', page.text))

        answers = {route: await http.get(route) for route in routes}

    assert routes >= {
        f"/tenants/acme/{p}" for p in ("counts", "errors", "conflicts", "matches", "runs")
    }
    for route, answer in answers.items():
        assert answer.status_code == 200, route
        assert "<html" not in answer.text
        assert csrf_of(page.text) in answer.text or "form" not in answer.text


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_queue_shows_where_workers_keep_one(tmp_path: Path, backend: str) -> None:
    async with site(tmp_path, backend=backend) as s, s.client() as http:
        await _signed_in(s, http)
        if backend == "postgresql":
            app = create_app(s.db.engine.url.render_as_string(hide_password=False))
            async with app.open_async():
                await _queue_jobs(app, s)

        fleet = await http.get("/fleet")
        acme = await http.get("/tenants/acme")
        bolt = await http.get("/tenants/bolt")

    if backend == "sqlite":  # ``run`` syncs tenants itself: no queue to show
        assert "Queue" not in fleet.text and "Queue" not in acme.text
        return
    assert "<th>Queue</th>" in fleet.text
    cells = re.findall(r'<td class="queue">([^<]*)</td>', fleet.text)
    backing_off = "1 waiting until 2030-01-01 00:00:00 UTC"
    assert cells == ["1 running, 1 waiting", backing_off, "no job"]  # acme, bolt, cedar
    assert '<dt>Queue</dt><dd class="queue">1 running, 1 waiting</dd>' in acme.text
    assert f'<dd class="queue">{backing_off}</dd>' in bolt.text


async def _queue_jobs(app: procrastinate.App, s: Site) -> None:
    """acme syncing with one more sync waiting, bolt's sync backing off until 2030."""
    manager = app.job_manager
    worker = await manager.register_worker()
    async with s.db.begin() as conn:
        await defer_syncs(app, conn, ["acme", "bolt"], "cycle")
    await manager.fetch_job(queues=["sync"], worker_id=worker)  # acme's
    bolt = await manager.fetch_job(queues=["sync"], worker_id=worker)
    assert bolt is not None
    await manager.retry_job(bolt, retry_at=datetime(2030, 1, 1, tzinfo=UTC))
    async with s.db.begin() as conn:
        await defer_syncs(app, conn, ["acme"], "fortnox customers")
