"""Stored match proposals and admin requests, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.store.backends import BACKENDS, open_database, second_connection
from webcrm_fortnox.engine.ports import MatchVerdict
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.lag import KEEP, LagSamples
from webcrm_fortnox.store.proposals import MatchProposals, ProposalError, Proposed, Verdict
from webcrm_fortnox.store.queries import ReadModel
from webcrm_fortnox.store.requests import AdminRequests, RequestKind, RequestState

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateDatabase]:
    async for database in open_database(request.param, tmp_path, clock=lambda: NOW):
        yield database


async def test_proposing_again_keeps_ids_and_decisions_and_drops_what_is_no_longer_proposed(
    db: StateDatabase,
) -> None:
    store = MatchProposals(db)
    first = await store.propose(
        "acme", "customer", [Proposed("1", "10", "VAT number"), Proposed("2", "20", "name")]
    )
    await store.decide("acme", first[0].id, Verdict.REJECT, "ops")

    # Record 2 was linked since; 1 and 10 are proposed again; 3 is new.
    again = await store.propose(
        "acme", "customer", [Proposed("1", "10", "VAT number"), Proposed("3", "30", "name")]
    )

    assert again[0].id == first[0].id and again[0].state == "rejected"
    assert again[1].state == "proposed"
    stored = (await ReadModel(db).match_proposals("acme")).rows
    assert [(p.webcrm_id, p.state) for p in stored] == [("1", "rejected"), ("3", "proposed")]
    (decision,) = await db.tenant("acme").match_decisions("customer")
    assert (decision.webcrm_id, decision.verdict) == ("1", MatchVerdict.REJECTED)


async def test_choosing_a_candidate_rejects_the_candidates_sharing_one_of_its_records(
    db: StateDatabase,
) -> None:
    store = MatchProposals(db)
    group = "name: webCRM 1"
    rows = await store.propose(
        "acme",
        "customer",
        [
            Proposed(webcrm, fortnox, "name", group)
            for webcrm in ("1", "2")
            for fortnox in ("10", "20")
        ],
    )
    chosen = next(p for p in rows if (p.webcrm_id, p.fortnox_id) == ("1", "10"))

    changed = await store.decide("acme", chosen.id, Verdict.CHOOSE, "ops")

    assert [(p.webcrm_id, p.fortnox_id, p.state) for p in changed] == [
        ("1", "10", "chosen"),
        ("1", "20", "rejected"),
        ("2", "10", "rejected"),
    ]
    assert changed[0].decided_by == "ops" and changed[0].decided_at == NOW
    left = (await ReadModel(db).match_proposals("acme", state="proposed")).rows
    assert [(p.webcrm_id, p.fortnox_id) for p in left] == [("2", "20")]
    decisions = await db.tenant("acme").match_decisions("customer")
    assert sorted((d.webcrm_id, d.fortnox_id, d.verdict.value) for d in decisions) == [
        ("1", "10", "accepted"),
        ("1", "20", "rejected"),
        ("2", "10", "rejected"),
    ]


async def test_a_decision_on_another_tenants_proposal_or_a_plain_pair_chosen_is_refused(
    db: StateDatabase,
) -> None:
    store = MatchProposals(db)
    (pair,) = await store.propose("acme", "customer", [Proposed("1", "10", "VAT number")])

    with pytest.raises(ProposalError, match=f"no match proposal {pair.id} of tenant 'other'"):
        await store.decide("other", pair.id, Verdict.ACCEPT, "ops")
    with pytest.raises(ProposalError, match="no candidate among others"):
        await store.decide("acme", pair.id, Verdict.CHOOSE, "ops")
    assert (await ReadModel(db).match_proposal(pair.id)) == pair  # unchanged


async def test_requests_are_claimed_oldest_first_once_each_and_finished_with_an_outcome(
    db: StateDatabase,
) -> None:
    requests = AdminRequests(db)
    sync = await requests.record("acme", RequestKind.SYNC, {}, "ops")
    retry = await requests.record("acme", RequestKind.RETRY, {"error_ids": [4]}, "ops")
    await requests.record("other", RequestKind.SYNC, {}, "ops")
    assert (sync.state, sync.arguments, sync.requested_at) == (RequestState.PENDING, {}, NOW)

    other = await second_connection(db)
    try:
        claims = await asyncio.gather(
            *(
                (requests if n % 2 else AdminRequests(other)).claim("acme", f"owner-{n}")
                for n in range(6)
            )
        )
    finally:
        await other.close()
    claimed = [c for c in claims if c is not None]
    assert sorted(c.id for c in claimed) == [sync.id, retry.id]  # each once, none twice
    assert all(c.state is RequestState.RUNNING and c.claimed_by for c in claimed)

    await requests.finish(retry.id, RequestState.FAILED, "no open error 4")
    page = await ReadModel(db).requests(tenant="acme")
    assert [(r.id, r.state, r.outcome) for r in page.rows] == [
        (retry.id, RequestState.FAILED, "no open error 4"),
        (sync.id, RequestState.RUNNING, None),
    ]
    assert page.rows[0].done_at == NOW
    assert await requests.claim("acme", "late") is None
    assert not await requests.waiting("acme")
    assert await requests.waiting("other")


async def test_a_claim_of_some_kinds_leaves_the_others_waiting(db: StateDatabase) -> None:
    requests = AdminRequests(db)
    await requests.record("acme", RequestKind.SYNC, {}, "ops")
    resume = await requests.record("acme", RequestKind.RESUME, {}, "ops")

    assert await requests.waiting_tenants([RequestKind.RESUME]) == ["acme"]
    claimed = await requests.claim("acme", "run", [RequestKind.RESUME])

    assert claimed is not None and claimed.id == resume.id
    assert await requests.waiting_tenants([RequestKind.RESUME]) == []
    assert await requests.waiting_tenants([RequestKind.SYNC]) == ["acme"]


async def test_lag_samples_are_kept_a_week_newest_first(tmp_path: Path) -> None:
    now = [NOW]
    async for db in open_database("sqlite", tmp_path, clock=lambda: now[0]):
        samples = LagSamples(db)
        await samples.record("acme", [("webcrm->fortnox", 1.5), ("fortnox->webcrm", 3.0)])
        now[0] = NOW + KEEP
        await samples.record("other", [("webcrm->fortnox", 9.0)])
        await samples.record("acme", [])  # nothing measured: nothing written, nothing dropped
        kept = await ReadModel(db).lag_samples("acme")
        assert [(s.direction, s.seconds, s.at) for s in kept] == [
            ("fortnox->webcrm", 3.0, NOW),
            ("webcrm->fortnox", 1.5, NOW),
        ]
        now[0] = NOW + KEEP + timedelta(seconds=1)
        await samples.record("acme", [("webcrm->fortnox", 2.0)])
        assert [s.seconds for s in await ReadModel(db).lag_samples("acme")] == [2.0]
        assert [s.seconds for s in await ReadModel(db).lag_samples("other")] == [9.0]
