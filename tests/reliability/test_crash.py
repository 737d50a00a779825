"""The crash test in its CI form: small data, a few SIGKILLs (in full: scripts/crash_test.py).

Organisations, customers, deliveries with lines and Fortnox orders and invoices are imported
while the sync is killed. The sync's clients keep no rate limit here (the emulators enforce
none), to keep CI quick: what a kill can interrupt is the same with and without the waits.
The checks the run ends with are themselves tested on a world broken on purpose.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Systems, tenant
from tests.reliability.crash import crash_run
from tests.reliability.crash_documents import Document, DocumentWorld, Paperwork, document_problems
from webcrm_fortnox.domain.line import Line, encode_lines
from webcrm_fortnox.engine.ports import SourceRecord
from webcrm_fortnox.fortnox.models import Order
from webcrm_fortnox.service import SyncOptions, sync_tenant
from webcrm_fortnox.store import StateDatabase


@pytest.mark.e2e
def test_sync_killed_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    figures = crash_run(
        tmp_path,
        organisations=10,
        customers=4,
        deliveries=5,
        fortnox_documents=2,
        kills=4,
        max_delay=1.0,
        seed=7,
        run_timeout=120,
        rate_limits=False,
        # Two kills land right after a create reached a system: an order, then a customer. Not
        # a delivery made from a Fortnox document: one killed between the delivery and its
        # lines loses the lines in Fortnox (see the test below).
        at_create_share=0.5,
        create_routes=["fortnox /3/orders", "fortnox /3/customers"],
    )
    assert figures.problems == [], figures.report()
    assert figures.kills == 4
    assert figures.kills_at_create == {"fortnox /3/orders": 1, "fortnox /3/customers": 1}
    # Documents flowed both ways: every eligible delivery and Fortnox document is linked.
    eligible = figures.deliveries - figures.excluded_deliveries + figures.fortnox_documents
    assert figures.excluded_deliveries >= 1 and figures.fortnox_documents >= 2
    assert figures.document_links == eligible, figures.report()
    # At least one kill must have interrupted real work, or the test proves nothing.
    assert figures.kills_mid_work >= 1, figures.report()


def _world() -> tuple[DocumentWorld, Paperwork]:
    """A delivery made in webCRM and an order made in Fortnox, each synced once, and a
    delivery under a prospect left alone: everything as it must be."""
    paperwork = Paperwork(tenant(), random.Random(0))
    lines = [Line.of(article=None, description="Frakt", quantity=2, price=50, discount=0, vat=25)]
    value = encode_lines(lines)
    paperwork.documents = {
        "11": Document("webcrm", "11", True, list(lines), {"order_date": "2026-03-02"}),
        "12": Document("webcrm", "12", False, list(lines)),
        "order:1": Document("fortnox", "order:1", True, list(lines)),
    }
    header = {"customer_number": "7", "order_date": "2026-03-02", "lines": value}
    world = DocumentWorld(
        deliveries={
            "11": SourceRecord("11", {**header, "document_number": "2"}),
            "12": SourceRecord("12", {}, eligible=False, excluded_reason="prospect"),
            "13": SourceRecord("13", {**header, "document_number": "1"}, key="order:1"),
        },
        fortnox={
            "order:1": SourceRecord("order:1", {**header, "document_number": "1"}),
            "order:2": SourceRecord("order:2", {**header, "document_number": "2"}, key="11"),
        },
        links=[("11", "order:2"), ("13", "order:1")],
        article_links=[],
    )
    return world, paperwork


def test_the_document_checks_pass_a_correct_world_and_name_each_broken_promise() -> None:
    world, paperwork = _world()
    config = tenant()
    assert document_problems(world, config, paperwork) == []

    # The same delivery sent twice: a second order carrying its key, never linked.
    world.fortnox["order:3"] = SourceRecord("order:3", world.fortnox["order:2"].fields, key="11")
    # The delivery under a prospect sent anyway.
    world.fortnox["order:4"] = SourceRecord("order:4", {}, key="12")
    # An edit lost on one side.
    paperwork.documents["order:1"].lines[0] = Line.of(
        article=None, description="Frakt", quantity=3, price=50, discount=0, vat=25
    )
    # A link lost.
    world.links.remove(("11", "order:2"))

    found = document_problems(world, config, paperwork)

    assert "Fortnox holds 2 documents with key 11" in found
    assert "delivery 12, which does not sync, was sent as order:4" in found
    assert "webcrm 11 is linked 0 times" in found
    assert any(p.startswith("order:1 (fortnox order:1).lines = ") for p in found), found
    assert any(p.startswith("order:1 (partner 13).lines = ") for p in found), found


class Killed(BaseException):
    """The process dying: nothing after it runs (not an error the sync could handle)."""


async def test_a_kill_between_a_delivery_and_its_lines_loses_no_line(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant()
    customer = await env.customer(Name="Beta AB")
    rows = [{"Description": d, "OrderedQuantity": 1, "Price": 10, "VAT": 25} for d in "ABC"]
    order = await env.fortnox.orders.create(
        Order.model_validate({"CustomerNumber": customer, "OrderRows": rows})
    )
    number = str(order.document_number)
    async with env.connector.clients(config) as clients:
        create_line = clients.webcrm.create_quotation_line
        made: list[int] = []

        async def killed_after_one_line(line: Any) -> int:
            if made:
                raise Killed  # SIGKILL after the delivery and its first line reached webCRM
            made.append(await create_line(line))
            return made[0]

        clients.webcrm.create_quotation_line = killed_after_one_line  # type: ignore[method-assign]
        with pytest.raises(Killed):
            await sync_tenant(
                config,
                db.tenant(config.name),
                clients.webcrm,
                clients.fortnox,
                SyncOptions(now=clients.now),
            )
    env.clock.advance(60)

    run = await env.sync(config, db)  # the restart

    assert run.exit_code == 0
    order = await env.fortnox.orders.get(number)
    assert [row.description for row in order.order_rows or []] == ["A", "B", "C"]
    [delivery] = [d async for d in env.webcrm.deliveries()]
    lines = [line.memo async for line in env.webcrm.quotation_lines_of_delivery(delivery.id)]
    assert lines == ["A", "B", "C"]


async def test_a_line_edited_in_webcrm_reaches_fortnox_in_the_next_cycle(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant()
    organisation = await env.organisation(OrganisationName="Acme AB")
    await env.sync(config, db)

    async def delivery(memo: str) -> int:
        made = await env.webcrm.create_delivery(
            {"DeliveryOrganisationId": organisation, "DeliveryDescription": memo}
        )
        await env.webcrm.create_quotation_line(
            {"QuotationLineOpportunityId": made, "QuotationLineMemo": memo,
             "QuotationLineQuantity": 1, "QuotationLinePrice": 10,
             "QuotationLineVatPercentage": 25}
        )  # fmt: skip
        return made

    first = await delivery("First")
    env.clock.advance(60)
    await env.sync(config, db)  # its order is made, the order number written back
    env.clock.advance(600)
    await delivery("Second")  # ten minutes later another delivery is entered
    env.clock.advance(60)
    await env.sync(config, db)
    [line] = [line async for line in env.webcrm.quotation_lines_of_delivery(first)]
    await env.webcrm.update_quotation_line(line.id, {"QuotationLineQuantity": 5})
    env.clock.advance(60)

    assert (await env.sync(config, db)).exit_code == 0  # the next cycle

    orders = {str(o.external_invoice_reference1): o async for o in env.fortnox.orders.iterate()}
    sent = await env.fortnox.orders.get(str(orders[str(first)].document_number))
    assert [row.ordered_quantity for row in sent.order_rows or []] == [5]
