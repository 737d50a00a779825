"""Hostile and broken deliveries and orders, synced in one run with good ones.

Each delivery either becomes the order it should (its rows as Fortnox keeps them) or ends as a
per-record error on that delivery that names the field where it can, carries the vendor's code
and message when a vendor refused it, and says in plain English what is wrong; the run
completes, the good records sync, and later runs neither duplicate nor rewrite anything.
Orders typed into Fortnox with odd rows become deliveries with the same lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.e2e.harness import Systems, tenant
from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.fortnox.models import Article
from webcrm_fortnox.store import StateDatabase

Row = tuple[str | None, str, str, str]  # article, description, quantity, price


def line(memo: str, quantity: Any = 1, price: Any = 10, **more: Any) -> dict[str, Any]:
    return {
        "QuotationLineMemo": memo,
        "QuotationLineQuantity": quantity,
        "QuotationLinePrice": price,
        **more,
    }


@dataclass
class Case:
    """A delivery as a person typed it, and how it must end."""

    lines: list[dict[str, Any]]
    header: dict[str, Any] = field(default_factory=dict)
    #: synced: the order's rows
    rows: list[Row] | None = None
    #: failed: (field or None, vendor code or None, words the reason must hold)
    error: tuple[str | None, str | None, str] | None = None


BIG = "1" + "0" * 15
HUGE = "1" + "0" * 30
CASES: dict[str, Case] = {
    "Artikel okänd": Case(
        [
            {
                "QuotationLineData1": "NO-SUCH",
                "QuotationLineData2": "Gammal del",
                "QuotationLineQuantity": 2,
                "QuotationLinePrice": 5,
            }
        ],
        rows=[(None, "Gammal del", "2", "5")],
    ),
    "Negativt antal": Case([line("Retur", -3, 10)], rows=[(None, "Retur", "-3", "10")]),
    "Negativt pris": Case([line("Rabatt", 1, -500)], rows=[(None, "Rabatt", "1", "-500")]),
    "Stort antal": Case([line("Massor", 1e15, 1)], rows=[(None, "Massor", BIG, "1")]),
    "Stort pris": Case([line("Dyr", 1, 1e15)], rows=[(None, "Dyr", "1", BIG)]),
    # Read as a number of any size: one such line once stopped the whole run.
    "Enormt": Case([line("Enorm", 1e30, 1e30)], rows=[(None, "Enorm", HUGE, HUGE)]),
    "Decimaler": Case(
        [line("Decimaler", 1.005, 10.555, QuotationLineDiscount=12.345)],
        rows=[(None, "Decimaler", "1.01", "10.56")],  # Fortnox keeps two, half up
    ),
    "Rabatt 150 %": Case(
        [line("Överrabatt", 1, 5, QuotationLineDiscount=150)], rows=[(None, "Överrabatt", "1", "5")]
    ),
    "Kommentarsrad": Case([line("", 0, 0)], rows=[(None, "", "0", "0")]),
    "Inga rader": Case([], rows=[]),
    "HTML": Case(
        [line("<b>Fet</b> & <script>alert(1)</script>")],
        rows=[(None, "(b)Fet(/b) & (script)alert(1)(/script)", "1", "10")],
    ),
    "SQL": Case(
        [line("Robert'); DROP TABLE lines;--")],
        rows=[(None, "Robert’); DROP TABLE lines;--", "1", "10")],
    ),
    "Styrtecken": Case([line("Bell\x07\x1b rad")], rows=[(None, "Bell rad", "1", "10")]),
    "Osynligt": Case([line("\u202eRTL\u200b rad\ufeff")], rows=[(None, "RTL rad", "1", "10")]),
    "Radbrytning": Case([line("Rad 1\nRad 2")], rows=[(None, "Rad 1 Rad 2", "1", "10")]),
    "År 0001": Case(  # webCRM's "unset" date: Fortnox's default, today, comes back
        [line("A")], {"DeliveryOrderDate": "0001-01-01T00:00:00"}, rows=[(None, "A", "1", "10")]
    ),
    "År 9999": Case(
        [line("A")], {"DeliveryOrderDate": "9999-12-31T00:00:00"}, rows=[(None, "A", "1", "10")]
    ),
    "Leverans före order": Case(
        [line("A")], {"DeliveryCustom1": "2020-01-01"}, rows=[(None, "A", "1", "10")]
    ),
    "Långt ERP-id": Case([line("A")], {"DeliveryErpId": "9" * 50}, rows=[(None, "A", "1", "10")]),
    "Moms 17 %": Case(
        # A row's VAT: Fortnox names no field, so the refusal is put on the lines.
        [line("Moms", QuotationLineVatPercentage=17)],
        error=("lines", "2001392", "VAT rate is not one the company has"),
    ),
    "Leverans imorgon": Case(
        [line("A")], {"DeliveryCustom1": "imorgon"}, error=("delivery_date", None, "'imorgon'")
    ),
    "Leverans 31 feb": Case(
        [line("A")], {"DeliveryCustom1": "2026-02-31"}, error=("delivery_date", None, "not a date")
    ),
    "Tom text": Case([line("", 2, 5)], error=("lines", "2003977", "needs a description")),
    "Blank text": Case([line("   ", 2, 5)], error=("lines", "2003977", "needs a description")),
    "Lång text": Case([line("x" * 300)], error=("Description", "2001392", "too long")),
    "Emoji": Case([line("Kaffe ☕ 🚀")], error=(None, "2000359", "characters Fortnox does not")),
    "API_BLANK": Case([line("API_BLANK")], error=("lines", None, "command to clear a field")),
}
GOOD: dict[str, Case] = {
    "Bra": Case([line("Konsult", 3, 950)], rows=[(None, "Konsult", "3", "950")]),
}


async def _deliveries(env: Systems, organisation: int, cases: dict[str, Case]) -> dict[str, str]:
    ids = {}
    for name, case in cases.items():
        delivery = await env.webcrm.create_delivery(
            {
                "DeliveryOrganisationId": organisation,
                "DeliveryDescription": name,
                "DeliveryOrderDate": "2026-03-02T00:00:00",
                **case.header,
            }
        )
        for values in case.lines:
            await env.webcrm.create_quotation_line(
                {"QuotationLineOpportunityId": delivery, "QuotationLineVatPercentage": 25, **values}
            )
        ids[name] = str(delivery)
    return ids


async def _orders(env: Systems) -> dict[str, list[Row]]:
    """Every order's rows, by the delivery it was made from (or its number)."""
    found = {}
    async for listed in env.fortnox.orders.iterate():
        order = await env.fortnox.orders.get(str(listed.document_number))
        rows = [
            (r.article_number, r.description or "", _n(r.ordered_quantity), _n(r.price))
            for r in order.order_rows or []
        ]
        found[order.external_invoice_reference1 or f"order:{order.document_number}"] = rows
    return found


def _n(value: Any) -> str:
    return format(value.normalize(), "f") if value is not None else "0"


#: Orders typed into Fortnox: rows as Fortnox took them, and the lines webCRM must show.
FORTNOX_ORDERS: dict[str, tuple[list[dict[str, Any]], list[tuple[str, float, float]]]] = {
    "Text och avrundning": (
        [{"Description": "Endast text", "OrderedQuantity": 0},
         {"Description": "Halvt öre", "OrderedQuantity": 1.125, "Price": 1.125}],
        [("Endast text", 0.0, 0.0), ("Halvt öre", 1.13, 1.13)],
    ),
    "Kreditrad": (
        [{"Description": "Kredit", "OrderedQuantity": -2, "Price": 9999999999}],
        [("Kredit", -2.0, 9999999999.0)],
    ),
    "Tecken": (
        [{"Description": "–:.`´’,;^¤#%§£$€¢¥©™°&/()=+-*_!?²³®½@", "OrderedQuantity": 1}],
        [("–:.`´’,;^¤#%§£$€¢¥©™°&/()=+-*_!?²³®½@", 1.0, 0.0)],
    ),
    "Bara artikel": (
        [{"ArticleNumber": "{article}", "OrderedQuantity": 2}], [("Hammer", 2.0, 99.0)]
    ),
    "Utan rader": ([], []),
}  # fmt: skip


async def test_hostile_deliveries_and_orders_never_crash_block_or_corrupt(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant()
    article = await env.fortnox.articles.create(Article(description="Hammer", purchase_price=50))
    await env.fortnox.prices.set(str(article.article_number), 99)
    organisation = await env.organisation(OrganisationName="Acme AB")
    refused = await env.organisation(OrganisationName="Raket 🚀 AB")  # Fortnox refuses the name
    assert (await env.sync(config, db)).exit_code == 3  # customers and articles first
    customer = (await env.customers())[0]["CustomerNumber"]
    ids = await _deliveries(env, organisation, {**CASES, **GOOD})
    orphan = await _deliveries(env, refused, {"Kund saknas": Case([line("A")])})
    typed = {}
    for name, (rows, _) in FORTNOX_ORDERS.items():
        for row in rows:
            if row.get("ArticleNumber") == "{article}":
                row["ArticleNumber"] = str(article.article_number)
        response = await env.fortnox_api.post(
            "/3/orders",
            json={"Order": {"CustomerNumber": customer, "YourReference": name, "OrderRows": rows}},
            headers=await env._fortnox_auth(),
        )
        assert response.status_code == 201, response.text
        typed[name] = response.json()["Order"]["DocumentNumber"]
    env.clock.advance(60)

    run = await env.sync(config, db)

    assert not run.stopped, run.reason
    assert run.exit_code == 3
    state = db.tenant(config.name)
    errors = {e.record_id: e for e in await state.open_errors("document")}
    orders = await _orders(env)
    for name, case in {**CASES, **GOOD}.items():
        delivery = ids[name]
        if case.rows is not None:
            assert delivery not in errors, (name, errors.get(delivery))
            assert orders.get(delivery) == case.rows, name
            continue
        assert case.error is not None
        blamed, code, words = case.error
        error = errors.get(delivery)
        assert error is not None and delivery not in orders, name
        assert (error.system, error.field, error.vendor_code) == ("webcrm", blamed, code), name
        assert words in error.reason or words in (error.vendor_message or ""), (name, error)
        # Refused by Fortnox (its code kept), or found unsendable before anything was sent.
        said = "Fortnox refused it: " if code is not None else "not sent to Fortnox: "
        assert error.reason.startswith(said), error.reason
        if code is not None:
            assert error.vendor_message, error  # the vendor's own words are kept beside it
    [skipped] = [o for r in run.results for o in r.outcomes if o.webcrm_id == orphan["Kund saknas"]]
    assert skipped.detail is not None and "customer_number is empty" in skipped.detail
    # Orders typed in Fortnox are deliveries now, line for line.
    made = {str(d.custom(5)): d async for d in env.webcrm.deliveries() if str(d.custom(5) or "")}
    for name, (_, lines) in FORTNOX_ORDERS.items():
        delivery = made[f"order:{typed[name]}"]
        shown = [
            (line.memo or "", line.quantity, line.price)
            async for line in env.webcrm.quotation_lines_of_delivery(delivery.id)
        ]
        assert shown == lines, name

    # The state store is sound: a retry and more runs create nothing twice and settle.
    env.clock.advance(61)
    assert not (await env.sync(config, db, mode=Mode.RETRY)).stopped
    env.clock.advance(61)
    assert not (await env.sync(config, db)).stopped
    await env.reset_stats()
    env.clock.advance(61)
    again = await env.sync(config, db, mode=Mode.FULL)
    assert again.exit_code == 3
    assert (await env.writes())["webcrm"] == 0
    assert await _orders(env) == orders
    assert {e.record_id for e in await state.open_errors("document")} == set(errors)
    links = await state.links("document")
    assert len({link.webcrm_id for link in links}) == len(links)
    assert len({link.fortnox_id for link in links}) == len(links)
    assert len([d async for d in env.webcrm.deliveries()]) == len(ids) + 1 + len(FORTNOX_ORDERS)


#: Cases whose outcome does not depend on order dates: the same in invoice mode.
INVOICE_CASES = [
    "Negativt antal", "Enormt", "Decimaler", "Kommentarsrad", "Styrtecken", "SQL",
    "Moms 17 %", "Tom text", "Lång text", "Emoji", "API_BLANK",
]  # fmt: skip


async def test_in_invoice_mode_the_same_deliveries_end_the_same_way(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant(delivery_target="invoice")
    organisation = await env.organisation(OrganisationName="Acme AB")
    await env.sync(config, db)
    cases = {name: CASES[name] for name in INVOICE_CASES} | GOOD
    ids = await _deliveries(env, organisation, cases)
    env.clock.advance(60)

    run = await env.sync(config, db)

    assert run.exit_code == 3
    errors = {e.record_id: e for e in await db.tenant(config.name).open_errors("document")}
    invoices = {}
    async for listed in env.fortnox.invoices.iterate():
        invoice = await env.fortnox.invoices.get(str(listed.document_number))
        invoices[invoice.external_invoice_reference1] = [
            (r.article_number, r.description or "", _n(r.delivered_quantity), _n(r.price))
            for r in invoice.invoice_rows or []
        ]
    for name, case in cases.items():
        delivery = ids[name]
        if case.rows is not None:
            assert invoices.get(delivery) == case.rows and delivery not in errors, name
        else:
            assert case.error is not None and delivery not in invoices, name
            assert errors[delivery].vendor_code == case.error[1], (name, errors[delivery])
    await env.reset_stats()
    env.clock.advance(61)
    assert (await env.sync(config, db, mode=Mode.FULL)).exit_code == 3
    assert (await env.writes())["webcrm"] == 0
    assert len([i async for i in env.fortnox.invoices.iterate()]) == len(invoices)
