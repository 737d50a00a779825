"""webCRM change reads: the cursor follows webCRM's clock and skips rows already handled."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest

from tests.adapters.emulators import Emulators
from tests.domain.tenants import make_tenant
from webcrm_fortnox.engine.adapters import WebcrmOrganisations
from webcrm_fortnox.engine.adapters.documents import LinkIndex, WebcrmDeliveries
from webcrm_fortnox.engine.adapters.webcrm_feed import FeedCursor, TableCursors, feed_start
from webcrm_fortnox.engine.ports import SourceRecord


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


async def _no_article(number: str) -> bool:
    return False


async def _delivery_with_line(env: Emulators) -> tuple[int, int]:
    acme = await _organisation(env, "Acme")
    delivery = await env.webcrm.create_delivery(
        {"DeliveryOrganisationId": acme, "DeliveryDescription": "Order"}
    )
    line = await env.webcrm.create_quotation_line(
        {"QuotationLineOpportunityId": delivery, "QuotationLineQuantity": 1}
    )
    return delivery, line


def _quantities(record: SourceRecord) -> str:
    return str(record.fields["lines"])


@pytest.fixture
def deliveries(env: Emulators) -> WebcrmDeliveries:
    """The deliveries of the emulated webCRM, with no customer or article linked yet."""

    async def no_links() -> LinkIndex:
        return LinkIndex()

    return WebcrmDeliveries(env.webcrm, make_tenant(), no_links, _no_article)


async def test_a_line_edited_long_after_its_delivery_brings_the_delivery(
    env: Emulators, deliveries: WebcrmDeliveries
) -> None:
    delivery, line = await _delivery_with_line(env)
    other, _ = await _delivery_with_line(env)
    env.clock.advance(10)
    first = await deliveries.changes(None)
    assert sorted(r.id for r in first.records) == sorted([str(delivery), str(other)])
    env.clock.advance(3600)  # an hour later: far outside the overlap
    # (the lines saved within five minutes of the full read are listed once more: the full
    # read remembers deliveries it handled, not their lines)
    later = await deliveries.changes(first.next_cursor)
    env.clock.advance(3600)
    quiet = await deliveries.changes(later.next_cursor)
    assert quiet.records == []

    # Saving a line does not move DeliveryUpdatedAt (in the emulator, and perhaps in webCRM).
    await env.webcrm.update_quotation_line(line, {"QuotationLineQuantity": 5})
    env.clock.advance(10)
    batch = await deliveries.changes(quiet.next_cursor)

    assert [r.id for r in batch.records] == [str(delivery)]
    assert '"quantity":"5"' in _quantities(batch.records[0])
    env.clock.advance(10)  # listed again within the overlap, unchanged: not read again
    assert (await deliveries.changes(batch.next_cursor)).records == []


async def test_where_lines_cannot_be_listed_a_delivery_listed_again_is_read_again(
    env: Emulators, deliveries: WebcrmDeliveries, caplog: pytest.LogCaptureFixture
) -> None:
    response = await env.webcrm.http.put(
        "/_emulator/settings", json={"quotation_line_queries": False}
    )
    response.raise_for_status()
    cursor = (await deliveries.changes(None)).next_cursor
    env.clock.advance(10)
    delivery, line = await _delivery_with_line(env)
    env.clock.advance(10)
    with caplog.at_level(logging.WARNING):
        batch = await deliveries.changes(cursor)
    assert [r.id for r in batch.records] == [str(delivery)]
    assert "refuses to list changed quotation lines" in caplog.text

    # Within the overlap the delivery is read again, lines and all, and the edit is found;
    # the refused table is not asked for again.
    await env.webcrm.update_quotation_line(line, {"QuotationLineQuantity": 5})
    env.clock.advance(10)
    scripts: list[str] = []

    async def note(request: httpx.Request) -> None:
        scripts.append(request.url.params.get("script", ""))

    env.webcrm.http.event_hooks["request"].append(note)
    again = await deliveries.changes(batch.next_cursor)
    assert [r.id for r in again.records] == [str(delivery)]
    assert '"quantity":"5"' in _quantities(again.records[0])
    assert scripts and not [s for s in scripts if "QuotationLine" in s]


async def test_a_delivery_cursor_stored_before_lines_were_read_is_taken_up(
    env: Emulators, deliveries: WebcrmDeliveries
) -> None:
    delivery, line = await _delivery_with_line(env)
    env.clock.advance(3600)
    old = FeedCursor(env.clock.now()).encode()  # the one-table form
    await env.webcrm.update_quotation_line(line, {"QuotationLineQuantity": 5})
    env.clock.advance(10)

    batch = await deliveries.changes(old)

    assert [r.id for r in batch.records] == [str(delivery)]
    assert batch.next_cursor is not None
    assert set(TableCursors.decode(batch.next_cursor, "Delivery").tables) == {
        "Delivery",
        "QuotationLine",
    }
    assert feed_start(batch.next_cursor, "QuotationLine") > feed_start(old, "Delivery")


def test_table_cursors_round_trip_and_refuse_other_text() -> None:
    at = FeedCursor(datetime(2026, 11, 24, 10, 0, tzinfo=UTC)).encode()
    both = TableCursors({"Delivery": at, "QuotationLine": at})
    assert TableCursors.decode(both.encode(), "Delivery") == both
    assert TableCursors.decode(at, "Delivery") == TableCursors({"Delivery": at})
    assert TableCursors.decode(None, "Delivery") == TableCursors({})
    with pytest.raises(ValueError):
        TableCursors.decode("not a cursor", "Delivery")
