"""Fortnox document source against the emulator: exact key lookup, credit and cancelled ones."""

from __future__ import annotations

import pytest

from tests.adapters.emulators import Emulators
from tests.domain.tenants import make_tenant
from webcrm_fortnox.engine.adapters import Announced
from webcrm_fortnox.engine.adapters.documents import DocumentLocked, FortnoxDocuments
from webcrm_fortnox.fortnox.models import Customer, Invoice, InvoiceRow, Order, OrderRow


async def _customer(env: Emulators) -> str:
    return str((await env.fortnox.customers.create(Customer(name="Acme AB"))).customer_number)


async def test_the_key_is_found_by_exact_match_only(env: Emulators) -> None:
    customer = await _customer(env)
    for reference in ("11", "1", "21"):
        await env.fortnox.orders.create(
            Order(customer_number=customer, external_invoice_reference1=reference)
        )
    source = FortnoxDocuments(env.fortnox, make_tenant())
    found = await source.find_by_key("1")
    assert found is not None and found.id == "order:2" and found.key == "1"
    assert await source.find_by_key("3") is None


async def test_a_credit_invoice_is_excluded_and_carries_no_key(env: Emulators) -> None:
    customer = await _customer(env)
    rows = [InvoiceRow(description="Fee", delivered_quantity=1, price=10)]
    invoice = await env.fortnox.invoices.create(
        Invoice(customer_number=customer, external_invoice_reference1="5", invoice_rows=rows)
    )
    await env.fortnox.invoices.credit(str(invoice.document_number))
    source = FortnoxDocuments(env.fortnox, make_tenant(delivery_target="invoice"))
    records = {r.id: r for r in (await source.changes(None)).records}
    original, credit = records["invoice:1"], records["invoice:2"]
    assert original.eligible and original.key == "5"
    assert not credit.eligible and credit.key is None
    assert credit.excluded_reason == "invoice 2 is a credit invoice"


async def test_an_invoice_made_from_an_order_folds_into_the_order(env: Emulators) -> None:
    customer = await _customer(env)
    rows = [OrderRow(description="Fee", ordered_quantity=1, price=10)]
    order = await env.fortnox.orders.create(Order(customer_number=customer, order_rows=rows))
    await env.fortnox.orders.create_invoice(str(order.document_number))
    [record] = (await FortnoxDocuments(env.fortnox, make_tenant()).changes(None)).records
    assert record.id == "order:1"
    assert record.fields["invoice_number"] == "1"
    assert record.fields["invoice_booked"] is False


async def test_announced_documents_are_read_alone_and_keep_the_cursor(env: Emulators) -> None:
    customer = await _customer(env)
    rows = [OrderRow(description="Fee", ordered_quantity=1, price=10)]
    orders = [
        await env.fortnox.orders.create(Order(customer_number=customer, order_rows=rows))
        for _ in range(3)
    ]
    cursor = (await FortnoxDocuments(env.fortnox, make_tenant()).changes(None)).next_cursor
    assert cursor is not None
    invoice = await env.fortnox.orders.create_invoice(str(orders[2].document_number))
    await env.fortnox.orders.update(str(orders[0].document_number), Order(our_reference="Ann"))
    # The feed announced the invoice made from the third order (not the first order's edit:
    # it stands for a change the feed missed, which the next listing must find).
    feed = Announced(invoices=frozenset({str(invoice.document_number)}))
    source = FortnoxDocuments(env.fortnox, make_tenant(), announced=feed)

    batch = await source.changes(cursor)

    assert [r.id for r in batch.records] == ["order:3"]  # the invoice folds into its order
    assert batch.records[0].fields["invoice_number"] == str(invoice.document_number)
    assert batch.next_cursor == cursor
    listed = await FortnoxDocuments(env.fortnox, make_tenant()).changes(cursor)
    assert {r.id for r in listed.records} >= {"order:1", "order:3"}


async def test_a_change_to_a_cancelled_order_is_refused_before_sending(env: Emulators) -> None:
    customer = await _customer(env)
    order = await env.fortnox.orders.create(Order(customer_number=customer))
    await env.fortnox.orders.cancel(str(order.document_number))
    source = FortnoxDocuments(env.fortnox, make_tenant())
    current = await source.get("order:1")
    assert current is not None and not current.eligible
    calls = env.fortnox.stats["calls"]
    with pytest.raises(DocumentLocked, match="cancelled in Fortnox"):
        await source.update("order:1", {"order_date": "2026-01-02"}, current)
    assert env.fortnox.stats["calls"] == calls
