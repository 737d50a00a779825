"""Fortnox customers as a record source, against the Fortnox emulator."""

from __future__ import annotations

import pytest

from tests.adapters.emulators import Emulators
from tests.domain.tenants import make_tenant
from webcrm_fortnox.engine.adapters import Announced, FortnoxCustomers
from webcrm_fortnox.engine.ports import RecordSource
from webcrm_fortnox.errors import ValidationError
from webcrm_fortnox.fortnox.models import Customer

FIELDS = {
    "name": "Acme AB",
    "address1": "Storgatan 1",
    "address2": "Box 12",
    "zip_code": "111 22",
    "city": "Stockholm",
    "country": "SE",
    "phone": "08-123 45",
    "website": "www.acme.se",
    "fax": "08-123 00",
    "customer_type": "company",
    "customer_number": None,
    "visiting_address": "Kungsgatan 2",
    "visiting_zip_code": "411 19",
    "visiting_city": "Göteborg",
    "visiting_country": "DK",
    "terms_of_payment": "30",
    "currency": "EUR",
    "vat_number": "SE556036079301",
    "organisation_number": "5560360793",
    "email": "info@acme.se",
}


def source(env: Emulators, **tenant: object) -> FortnoxCustomers:
    return FortnoxCustomers(env.fortnox, make_tenant(**tenant), now=env.clock.now)


def test_it_is_a_record_source(env: Emulators) -> None:
    assert isinstance(source(env), RecordSource)


async def test_create_lets_fortnox_number_it_and_keeps_every_field(env: Emulators) -> None:
    created = await source(env).create({**FIELDS, "customer_number": "999"}, "145")
    assert created.id == "1"
    assert created.key == "145"
    assert created.fields == {**FIELDS, "customer_number": "1"}
    stored = await env.fortnox.customers.get("1")
    assert stored.external_reference == "145"
    assert stored.organisation_number == "556036-0793"


async def test_create_sends_the_number_when_webcrm_owns_it(env: Emulators) -> None:
    created = await source(env, customer_number_owner="webcrm").create(
        {**FIELDS, "customer_number": "K-17"}, "145"
    )
    assert created.id == "K-17"
    assert created.fields["customer_number"] == "K-17"


async def test_update_changes_only_the_given_fields_and_clears_blanks(env: Emulators) -> None:
    customers = source(env)
    created = await customers.create(FIELDS, "145")
    updated = await customers.update(
        created.id, {"phone": None, "customer_type": "private", "city": "Malmö"}, created
    )
    assert updated.fields == {
        **created.fields,
        "phone": None,
        "customer_type": "private",
        "city": "Malmö",
    }
    assert (await customers.get(created.id)) == updated


async def test_renumbering_is_refused_before_anything_is_sent(env: Emulators) -> None:
    customers = source(env)
    created = await customers.create(FIELDS, "145")
    with pytest.raises(ValidationError) as caught:
        await customers.update(created.id, {"customer_number": "2"}, created)
    assert caught.value.field == "customer_number"


async def test_fortnox_rejections_surface_as_validation_errors(env: Emulators) -> None:
    with pytest.raises(ValidationError):
        await source(env).create({**FIELDS, "name": None}, "145")  # Name is required


async def test_get_of_a_missing_customer_is_none(env: Emulators) -> None:
    assert await source(env).get("404") is None


async def test_all_reads_every_customer_in_full(env: Emulators) -> None:
    await env.fortnox.customers.create(Customer(name="First", phone1="1"))
    await env.fortnox.customers.create(Customer(name="Second", type="PRIVATE"))
    records = [record async for record in source(env).all()]
    assert [(r.id, r.fields["name"]) for r in records] == [("1", "First"), ("2", "Second")]
    assert records[0].fields["phone"] == "1"
    assert records[1].fields["customer_type"] == "private"
    assert all(r.eligible and r.modified_at is None for r in records)


async def test_changes_since_a_cursor_skip_older_customers(env: Emulators) -> None:
    customers = source(env)
    older = await customers.create({"name": "Older"}, "1")
    newer = await customers.create({"name": "Newer"}, "2")
    env.clock.advance(600)  # well past the client's overlap window
    first = await customers.changes(None)
    assert {r.id for r in first.records} == {older.id, newer.id}
    assert first.next_cursor is not None
    quiet = await customers.changes(first.next_cursor)
    assert quiet.records == []

    env.clock.advance(600)
    await customers.update(newer.id, {"city": "Lund"}, newer)
    batch = await customers.changes(quiet.next_cursor)
    assert [r.id for r in batch.records] == [newer.id]
    assert batch.records[0].fields["city"] == "Lund"
    assert batch.next_cursor is not None and batch.next_cursor > first.next_cursor


async def test_announced_customers_are_read_alone_and_keep_the_cursor(env: Emulators) -> None:
    customers = source(env)
    first = await customers.create({"name": "First"}, "1")
    second = await customers.create({"name": "Second"}, "2")
    cursor = (await customers.changes(None)).next_cursor
    assert cursor is not None
    await customers.update(first.id, {"city": "Lund"}, first)
    await customers.update(second.id, {"city": "Malmö"}, second)

    feed = Announced(customers=frozenset({second.id}))
    announced = FortnoxCustomers(env.fortnox, make_tenant(), now=env.clock.now, announced=feed)
    batch = await announced.changes(cursor)

    # Only what the change feed announced is read; the lastmodified read that follows (the
    # scheduled cycle's) starts where the last one did, so it finds the first edit too.
    assert [(r.id, r.fields["city"]) for r in batch.records] == [(second.id, "Malmö")]
    assert batch.next_cursor == cursor
    listed = await source(env).changes(cursor)
    assert {r.id for r in listed.records} == {first.id, second.id}


async def test_find_by_key_finds_a_customer_created_with_that_key(env: Emulators) -> None:
    created = await source(env).create(FIELDS, "145")
    await env.fortnox.customers.create(Customer(name="Unrelated"))
    cold = source(env)  # a new process: nothing indexed yet
    assert await cold.find_by_key("145") == created
    assert await cold.find_by_key("146") is None


async def test_find_by_key_sees_customers_created_after_the_index_was_built(
    env: Emulators,
) -> None:
    customers = source(env)
    assert await customers.find_by_key("145") is None
    other = source(env)
    created = await other.create(FIELDS, "145")
    assert await customers.find_by_key("145") == created


async def test_find_by_key_forgets_a_key_that_was_edited_away(env: Emulators) -> None:
    customers = source(env)
    created = await customers.create(FIELDS, "145")
    await env.fortnox.customers.update(created.id, Customer(external_reference="other"))
    assert await customers.find_by_key("145") is None
