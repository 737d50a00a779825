"""Deliveries ⇄ orders or invoices, with lines, through the runner against both emulators."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Systems, tenant
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.config.models import ArticleSettings
from webcrm_fortnox.engine.apply import RecordStatus
from webcrm_fortnox.engine.plan import ActionKind, Mode
from webcrm_fortnox.engine.ports import ErrorKind, Link
from webcrm_fortnox.engine.sync import RunResult
from webcrm_fortnox.fortnox.models import Article, Invoice, InvoiceRow
from webcrm_fortnox.service import SyncOptions, TenantRun, sync_tenant
from webcrm_fortnox.service.reports import action_details
from webcrm_fortnox.store import StateDatabase, TenantState


def documents(run: TenantRun) -> RunResult:
    [result] = [r for r in run.results if r.entity == "document"]
    return result


async def hammer(env: Systems) -> str:
    """A Fortnox article with a list price; returns its number."""
    article = await env.fortnox.articles.create(Article(description="Hammer", purchase_price=50))
    await env.fortnox.prices.set(str(article.article_number), 99)
    return str(article.article_number)


async def delivery(env: Systems, organisation: int, lines: Sequence[Mapping[str, Any]]) -> int:
    """A delivery with lines, as a sales person enters it in webCRM."""
    delivery_id = await env.webcrm.create_delivery(
        {
            "DeliveryOrganisationId": organisation,
            "DeliveryDescription": "Sale",
            "DeliveryOrderDate": "2026-03-02T00:00:00",
        }
    )
    for line in lines:
        await env.webcrm.create_quotation_line(
            {"QuotationLineOpportunityId": delivery_id, "QuotationLineVatPercentage": 25, **line}
        )
    return delivery_id


async def item_id(env: Systems, article: str) -> int:
    [item] = [i for i in await env.webcrm.product_register() if i.data(1) == article]
    return item.id


async def order_rows(env: Systems, number: str) -> list[tuple[Any, ...]]:
    order = await env.fortnox.orders.get(number)
    return [
        (r.article_number, r.description, r.ordered_quantity, r.price)
        for r in order.order_rows or []
    ]


async def test_delivery_becomes_an_order_and_shows_its_invoice_once_invoiced(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant()
    article = await hammer(env)
    organisation = await env.organisation(OrganisationName="Acme AB")
    await env.sync(config, db)  # the customer and the article exist on both sides now
    item = await item_id(env, article)
    sale = await delivery(
        env,
        organisation,
        [
            {"QuotationLineLinkedDataId": item, "QuotationLineQuantity": 2},
            {"QuotationLineMemo": "Installation", "QuotationLineQuantity": 3,
             "QuotationLinePrice": 500, "QuotationLineDiscount": 10},
        ],
    )  # fmt: skip
    env.clock.advance(60)

    run = await env.sync(config, db)

    assert run.exit_code == 0
    assert [o.status for o in documents(run).outcomes] == [RecordStatus.SYNCED]
    [order] = [o async for o in env.fortnox.orders.iterate()]
    number = str(order.document_number)
    assert order.external_invoice_reference1 == str(sale)
    assert await order_rows(env, number) == [
        (article, "Hammer", 2, 99),
        (None, "Installation", 3, 500),
    ]
    full = await env.fortnox.orders.get(number)
    assert str(full.order_date) == "2026-03-02"
    shown = await env.webcrm.get_delivery(sale)
    assert shown.erp_id == number  # DeliveryErpId holds the order number

    # The order is invoiced and booked in Fortnox: webCRM shows number, date and booked state.
    invoice = await env.fortnox.orders.create_invoice(number)
    await env.fortnox.invoices.bookkeep(str(invoice.document_number))
    env.clock.advance(60)
    run = await env.sync(config, db)
    assert run.exit_code == 0
    shown = await env.webcrm.get_delivery(sale)
    assert shown.custom(2) == str(invoice.document_number)
    assert shown.custom(3) == str(invoice.invoice_date)
    assert shown.custom(4) == "Yes"

    # Nothing changed since: nothing is written, nothing echoes.
    await env.reset_stats()
    env.clock.advance(60)
    assert (await env.sync(config, db)).exit_code == 0
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}


async def test_lines_changed_in_fortnox_are_written_in_place_in_webcrm(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant()
    organisation = await env.organisation(OrganisationName="Acme AB")
    await env.sync(config, db)
    sale = await delivery(
        env,
        organisation,
        [
            {"QuotationLineMemo": "A", "QuotationLineQuantity": 1, "QuotationLinePrice": 10},
            {"QuotationLineMemo": "B", "QuotationLineQuantity": 1, "QuotationLinePrice": 20},
        ],
    )
    env.clock.advance(60)
    await env.sync(config, db)
    [order] = [o async for o in env.fortnox.orders.iterate()]
    before = [line.id async for line in env.webcrm.quotation_lines_of_delivery(sale)]
    await env.fortnox.orders.update(
        str(order.document_number),
        env.fortnox.orders.record_type.model_validate(
            {"OrderRows": [{"Description": "A", "OrderedQuantity": 1, "Price": 10, "VAT": 25},
                           {"Description": "B", "OrderedQuantity": 4, "Price": 20, "VAT": 25}]}
        ),
    )  # fmt: skip
    env.clock.advance(60)

    run = await env.sync(config, db)

    [outcome] = documents(run).outcomes
    assert outcome.status is RecordStatus.SYNCED
    [change] = outcome.action.changes
    assert change.field == "lines" and change.system == "webcrm"
    lines = [line async for line in env.webcrm.quotation_lines_of_delivery(sale)]
    assert [line.id for line in lines] == before  # updated in place, not re-created
    assert [(line.memo, line.quantity) for line in lines] == [("A", 1.0), ("B", 4.0)]


async def test_invoice_mode_makes_an_invoice_of_the_delivery(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant(delivery_target="invoice")
    organisation = await env.organisation(OrganisationName="Acme AB")
    await env.sync(config, db)
    sale = await delivery(
        env, organisation, [{"QuotationLineMemo": "Service", "QuotationLineQuantity": 2,
                             "QuotationLinePrice": 150}]
    )  # fmt: skip
    env.clock.advance(60)

    run = await env.sync(config, db)

    assert run.exit_code == 0
    assert [o async for o in env.fortnox.orders.iterate()] == []
    [listed] = [i async for i in env.fortnox.invoices.iterate()]
    invoice = await env.fortnox.invoices.get(str(listed.document_number))
    assert invoice.external_invoice_reference1 == str(sale)
    assert [(r.description, r.delivered_quantity, r.price) for r in invoice.invoice_rows or []] == [
        ("Service", 2, 150)
    ]
    shown = await env.webcrm.get_delivery(sale)
    assert shown.erp_id == str(invoice.document_number)
    assert shown.custom(2) == str(invoice.document_number)
    assert shown.custom(3) == str(invoice.invoice_date)
    assert shown.custom(4) == "No"


async def synced_sale_of_service(env: Systems, config: TenantConfig, db: StateDatabase) -> int:
    """A customer's delivery of two hours of service at 150, synced to Fortnox; its id."""
    organisation = await env.organisation(OrganisationName="Acme AB")
    await env.sync(config, db)
    sale = await delivery(
        env, organisation, [{"QuotationLineMemo": "Service", "QuotationLineQuantity": 2,
                             "QuotationLinePrice": 150}]
    )  # fmt: skip
    env.clock.advance(60)
    await env.sync(config, db)
    return sale


async def sync_after_edit(
    env: Systems, config: TenantConfig, db: StateDatabase, sale: int, saved: dict[str, Any]
) -> TenantRun:
    """A person sets the quantity of the delivery's line to 5 and saves the delivery with
    ``saved``; the next sync, with the emulators' statistics counted from just before it."""
    [line] = [line async for line in env.webcrm.quotation_lines_of_delivery(sale)]
    await env.webcrm.update_quotation_line(line.id, {"QuotationLineQuantity": 5})
    await env.webcrm.update_delivery(sale, saved)
    await env.reset_stats()
    env.clock.advance(60)
    return await env.sync(config, db)


async def test_a_change_to_a_booked_invoice_is_locked_and_not_sent(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant(delivery_target="invoice")
    sale = await synced_sale_of_service(env, config, db)
    [listed] = [i async for i in env.fortnox.invoices.iterate()]
    number = str(listed.document_number)
    await env.fortnox.invoices.bookkeep(number)
    env.clock.advance(60)
    await env.sync(config, db)
    assert (await env.webcrm.get_delivery(sale)).custom(4) == "Yes"

    run = await sync_after_edit(env, config, db, sale, {"DeliveryNote": "more hours"})

    assert run.exit_code == 3
    [outcome] = documents(run).outcomes
    assert outcome.status is RecordStatus.LOCKED
    assert outcome.detail is not None and f"invoice {number} is booked" in outcome.detail
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}
    invoice = await env.fortnox.invoices.get(number)
    assert [r.delivered_quantity for r in invoice.invoice_rows or []] == [2]
    [kept] = [line async for line in env.webcrm.quotation_lines_of_delivery(sale)]
    assert kept.quantity == 5
    [error] = await db.tenant(config.name).open_errors("document")
    assert error.kind is ErrorKind.LOCKED


async def test_a_change_to_an_order_whose_invoice_is_booked_is_locked_and_not_sent(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant()  # the default: a delivery becomes an order
    assert config.delivery_target == "order"
    sale = await synced_sale_of_service(env, config, db)
    [order] = [o async for o in env.fortnox.orders.iterate()]
    number = str(order.document_number)
    invoice = await env.fortnox.orders.create_invoice(number)
    await env.fortnox.invoices.bookkeep(str(invoice.document_number))
    env.clock.advance(60)
    await env.sync(config, db)
    assert (await env.webcrm.get_delivery(sale)).custom(4) == "Yes"
    rows = await order_rows(env, number)

    run = await sync_after_edit(env, config, db, sale, {"DeliveryOrderDate": "2026-03-09T00:00:00"})

    assert run.exit_code == 3
    [outcome] = documents(run).outcomes
    assert outcome.status is RecordStatus.LOCKED
    whose = f"invoice {invoice.document_number} of order {number} is booked"
    assert outcome.detail is not None and whose in outcome.detail
    assert (await env.writes())["fortnox"] == 0
    assert await order_rows(env, number) == rows == [(None, "Service", 2, 150)]
    assert str((await env.fortnox.orders.get(number)).order_date) == "2026-03-02"
    kept = await env.webcrm.get_delivery(sale)
    assert kept.order_date is not None and kept.order_date.date().isoformat() == "2026-03-09"
    [edited] = [line async for line in env.webcrm.quotation_lines_of_delivery(sale)]
    assert edited.quantity == 5  # both changes stay in webCRM
    [error] = await db.tenant(config.name).open_errors("document")
    assert error.kind is ErrorKind.LOCKED
    assert whose in error.reason


async def test_an_invoice_made_in_fortnox_becomes_a_completed_delivery(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant()
    customer = await env.customer(Name="Beta AB")
    invoice = await env.fortnox.invoices.create(
        Invoice(
            customer_number=customer,
            invoice_rows=[InvoiceRow(description="Consulting", delivered_quantity=3, price=800)],
        )
    )

    run = await env.sync(config, db)  # the customer first, then its invoice, in one run

    assert run.exit_code == 0
    [organisation] = await env.organisations()
    [made] = [d async for d in env.webcrm.deliveries()]
    assert made.organisation_id == organisation["OrganisationId"]
    assert made.status == "Completed"
    assert made.erp_id == str(invoice.document_number)
    assert made.custom(5) == f"invoice:{invoice.document_number}"
    [line] = [line async for line in env.webcrm.quotation_lines_of_delivery(made.id)]
    assert (line.memo, line.quantity, line.price) == ("Consulting", 3.0, 800.0)
    await env.reset_stats()
    env.clock.advance(60)
    assert (await env.sync(config, db)).exit_code == 0
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}


async def test_a_delivery_of_an_organisation_without_a_sync_type_is_excluded(
    env: Systems, db: StateDatabase
) -> None:
    organisation = await env.organisation(OrganisationName="Lead AB", OrganisationType="Prospect")
    await delivery(env, organisation, [{"QuotationLineMemo": "X", "QuotationLineQuantity": 1}])

    run = await env.sync(tenant(), db)

    assert run.exit_code == 0
    [outcome] = documents(run).outcomes
    assert outcome.status is RecordStatus.EXCLUDED
    assert outcome.detail == (
        "its organisation Lead AB has Type Prospect, which is not one of the customer types "
        "that sync"
    )
    assert [o async for o in env.fortnox.orders.iterate()] == []


async def test_a_line_with_an_article_unknown_to_fortnox_is_a_free_text_row(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant()
    article = await hammer(env)
    organisation = await env.organisation(OrganisationName="Acme AB")
    await env.sync(config, db)
    sale = await delivery(
        env,
        organisation,
        [
            {"QuotationLineLinkedDataId": await item_id(env, article), "QuotationLineQuantity": 1},
            {"QuotationLineData1": "NO-SUCH", "QuotationLineData2": "Old part",
             "QuotationLineQuantity": 2, "QuotationLinePrice": 5},
        ],
    )  # fmt: skip
    env.clock.advance(60)

    run = await env.sync(config, db)

    assert run.exit_code == 0
    [order] = [o async for o in env.fortnox.orders.iterate()]
    assert await order_rows(env, str(order.document_number)) == [
        (article, "Hammer", 1, 99),
        (None, "Old part", 2, 5),
    ]
    lines = [line async for line in env.webcrm.quotation_lines_of_delivery(sale)]
    assert lines[1].data(1) == "NO-SUCH"  # webCRM keeps what the sales person picked
    await env.reset_stats()
    env.clock.advance(60)
    assert (await env.sync(config, db, mode=Mode.FULL)).exit_code == 0
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}


class CrashAfterCreate:
    """A state store that dies once, right after a document was created, before it is linked."""

    def __init__(self, state: TenantState) -> None:
        self.state = state
        self.crashed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.state, name)

    async def save_link(self, entity: str, *args: Any, **kw: Any) -> Link:
        if entity == "document" and not self.crashed:
            self.crashed = True
            raise RuntimeError("the process died")
        return await self.state.save_link(entity, *args, **kw)


async def _sync_with(env: Systems, config: TenantConfig, state: Any) -> TenantRun:
    async with env.connector.clients(config) as clients:
        return await sync_tenant(
            config, state, clients.webcrm, clients.fortnox, SyncOptions(now=clients.now)
        )


async def test_a_crash_between_create_and_link_leaves_no_duplicate(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant()
    organisation = await env.organisation(OrganisationName="Acme AB")
    await env.sync(config, db)
    await delivery(env, organisation, [{"QuotationLineMemo": "X", "QuotationLineQuantity": 1}])
    env.clock.advance(60)
    crashing = CrashAfterCreate(db.tenant(config.name))
    with pytest.raises(RuntimeError, match="died"):
        await _sync_with(env, config, crashing)
    assert len([o async for o in env.fortnox.orders.iterate()]) == 1

    env.clock.advance(60)
    run = await env.sync(config, db)

    assert run.exit_code == 0
    [outcome] = documents(run).outcomes
    assert outcome.action.kind.value == "resolve"
    assert len([o async for o in env.fortnox.orders.iterate()]) == 1
    [link] = await db.tenant(config.name).links("document")
    assert link.fortnox_id.startswith("order:")


async def test_plan_shows_a_document_action_with_its_line_diff(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant()
    organisation = await env.organisation(OrganisationName="Acme AB")
    await env.sync(config, db)
    sale = await delivery(
        env, organisation, [{"QuotationLineMemo": "A", "QuotationLineQuantity": 1,
                             "QuotationLinePrice": 10}]
    )  # fmt: skip
    env.clock.advance(60)
    planned = documents(await env.sync(config, db, dry_run=True))
    [create] = planned.plan.actions if planned.plan else []
    assert "lines: line 1: + 1 × A à 10 (VAT 25 %)" in action_details(create).splitlines()

    await env.sync(config, db)
    [line] = [line async for line in env.webcrm.quotation_lines_of_delivery(sale)]
    await env.webcrm.update_quotation_line(line.id, {"QuotationLineQuantity": 4})
    env.clock.advance(60)
    planned = documents(await env.sync(config, db, mode=Mode.FULL, dry_run=True))
    [update] = planned.plan.actions if planned.plan else []
    assert action_details(update) == "Fortnox lines: line 1: quantity 1 → 4"
    [order] = [o async for o in env.fortnox.orders.iterate()]
    assert await order_rows(env, str(order.document_number)) == [(None, "A", 1, 10)]  # not sent


@pytest.mark.parametrize(
    ("owner", "number_shown"), [("fortnox", "(the new Fortnox customer)"), ("webcrm", "K-1")]
)
async def test_plan_before_the_first_sync_shows_the_documents_of_customers_it_creates(
    env: Systems, db: StateDatabase, owner: str, number_shown: str
) -> None:
    config = tenant(customer_number_owner=owner)
    berg = await env.customer(Name="Berg AB", OrganisationNumber="556036-0793")
    created = await env.organisation(OrganisationName="Acme AB", OrganisationExtraCustom1="K-1")
    matched = await env.organisation(
        OrganisationName="Berg AB", OrganisationExtraCustom2="556036-0793"
    )
    prospect = await env.organisation(OrganisationName="Ceder AB", OrganisationType="Prospect")
    line = {"QuotationLineMemo": "A", "QuotationLineQuantity": 1, "QuotationLinePrice": 10}
    sales = {o: await delivery(env, o, [line]) for o in (created, matched, prospect)}

    planned = documents(await env.sync(config, db, dry_run=True))
    assert planned.plan is not None
    run = await env.sync(config, db)

    assert run.exit_code == 0, run.reason
    shown = [(a.kind, a.source, a.webcrm_id) for a in planned.plan.actions]
    done = [(o.action.kind, o.action.source, o.action.webcrm_id) for o in documents(run).outcomes]
    assert sorted(shown) == sorted(done)
    kinds = {a.webcrm_id: a.kind for a in planned.plan.actions}
    assert kinds == {
        str(sales[created]): ActionKind.CREATE,
        str(sales[matched]): ActionKind.CREATE,
        str(sales[prospect]): ActionKind.EXCLUDE,
    }
    numbers = {
        a.webcrm_id: a.base.get("customer_number") for a in planned.plan.of_kind(ActionKind.CREATE)
    }
    assert numbers == {str(sales[created]): number_shown, str(sales[matched]): berg}


def test_the_readmes_article_and_document_settings_are_the_defaults() -> None:
    readme = Path(__file__).parents[2] / "README.md"
    section = readme.read_text(encoding="utf-8").split("## Articles and documents", 1)[1]
    block = tomllib.loads(section.split("```toml\n", 1)[1].split("```", 1)[0])
    [shown] = block["tenant"]
    defaults = tenant()
    assert shown["delivery_target"] == defaults.delivery_target
    assert ArticleSettings.model_validate(shown["articles"]) == defaults.articles
    assert shown["documents"]["fields"] == defaults.documents.fields.model_dump()
