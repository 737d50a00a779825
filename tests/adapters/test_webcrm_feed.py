"""webCRM change reads: the cursor follows webCRM's clock and skips rows already handled."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.adapters.emulators import Emulators
from tests.domain.tenants import make_tenant
from webcrm_fortnox.engine.adapters import WebcrmOrganisations
from webcrm_fortnox.engine.adapters.documents import WebcrmDeliveries
from webcrm_fortnox.engine.adapters.webcrm_feed import FeedCursor
from webcrm_fortnox.store import StateDatabase


async def _organisation(env: Emulators, name: str) -> int:
    return await env.webcrm.create_organisation(
        {"OrganisationName": name, "OrganisationType": "Customer"}
    )


def _source(env: Emulators) -> WebcrmOrganisations:
    return WebcrmOrganisations(env.webcrm, make_tenant())


async def test_a_quiet_table_costs_one_request_once_the_overlap_has_passed(
    env: Emulators,
) -> None:
    organisations = _source(env)
    await _organisation(env, "Acme")
    first = await organisations.changes(None)
    assert first.next_cursor is not None
    env.clock.advance(600)  # nothing changes for ten minutes
    second = await organisations.changes(first.next_cursor)
    assert second.next_cursor is not None
    env.clock.advance(600)
    calls = env.webcrm.stats.calls
    quiet = await organisations.changes(second.next_cursor)
    assert quiet.records == []
    # One /Queries request that lists nothing: a read starts five minutes before the previous
    # read by webCRM's clock, not five minutes before the last change it saw, however old.
    assert env.webcrm.stats.calls - calls == 1
    assert quiet.next_cursor is not None
    assert FeedCursor.decode(quiet.next_cursor).at > FeedCursor.decode(second.next_cursor).at


async def test_rows_listed_again_unchanged_are_dropped_and_a_new_save_is_not(
    env: Emulators,
) -> None:
    organisations = _source(env)
    acme = await _organisation(env, "Acme")
    cursor = (await organisations.changes(None)).next_cursor
    env.clock.advance(10)
    await env.webcrm.update_organisation(acme, {"OrganisationCity": "Lund"})
    env.clock.advance(10)
    batch = await organisations.changes(cursor)
    assert [r.fields["city"] for r in batch.records] == ["Lund"]
    assert batch.next_cursor is not None
    assert acme in FeedCursor.decode(batch.next_cursor).seen

    env.clock.advance(10)  # still inside the overlap: webCRM lists Acme again
    again = await organisations.changes(batch.next_cursor)
    assert again.records == []

    await env.webcrm.update_organisation(acme, {"OrganisationCity": "Malmö"})
    env.clock.advance(10)
    edited = await organisations.changes(again.next_cursor)
    assert [r.fields["city"] for r in edited.records] == ["Malmö"]


async def test_a_row_saved_in_the_second_of_the_read_is_read_again(env: Emulators) -> None:
    organisations = _source(env)
    await _organisation(env, "Acme")
    # Read at once: a second save within this second would carry the same UpdatedAt, so the
    # row must not be taken as handled for good.
    first = await organisations.changes(None)
    assert first.next_cursor is not None
    assert FeedCursor.decode(first.next_cursor).seen == {}
    again = await organisations.changes(first.next_cursor)
    assert [r.fields["name"] for r in again.records] == ["Acme"]


async def test_a_cursor_stored_as_a_bare_time_is_still_read(env: Emulators) -> None:
    organisations = _source(env)
    before = env.clock.now()
    env.clock.advance(600)
    await _organisation(env, "Acme")
    batch = await organisations.changes(before.astimezone(UTC).isoformat())
    assert [r.fields["name"] for r in batch.records] == ["Acme"]
    assert FeedCursor.decode(before.isoformat()) == FeedCursor(before)


def test_the_cursor_round_trips() -> None:
    at = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    cursor = FeedCursor(at, {7: datetime(2026, 11, 24, 9, 58, tzinfo=UTC)})
    assert FeedCursor.decode(cursor.encode()) == cursor
    assert FeedCursor(at).encode() == at.isoformat()


async def test_a_delivery_listed_again_is_read_again_with_its_lines(
    env: Emulators, tmp_path: Path
) -> None:
    db = await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        tenant = make_tenant()

        async def no_article(number: str) -> bool:
            return False

        deliveries = WebcrmDeliveries(env.webcrm, tenant, db.tenant("acme"), no_article)
        acme = await _organisation(env, "Acme")
        cursor = (await deliveries.changes(None)).next_cursor
        env.clock.advance(10)
        delivery = await env.webcrm.create_delivery(
            {"DeliveryOrganisationId": acme, "DeliveryDescription": "Order"}
        )
        line = await env.webcrm.create_quotation_line(
            {"QuotationLineOpportunityId": delivery, "QuotationLineQuantity": 1}
        )
        env.clock.advance(10)
        batch = await deliveries.changes(cursor)
        assert [r.id for r in batch.records] == [str(delivery)]

        # A line's save need not move its delivery's update time: within the overlap the
        # delivery is read again, lines and all, and the edit is found.
        await env.webcrm.update_quotation_line(line, {"QuotationLineQuantity": 5})
        env.clock.advance(10)
        again = await deliveries.changes(batch.next_cursor)
        assert [r.id for r in again.records] == [str(delivery)]
        assert '"quantity":"5"' in str(again.records[0].fields["lines"])
    finally:
        await db.close()
