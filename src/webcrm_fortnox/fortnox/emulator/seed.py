"""Data a company starts with.

Every company gets the registers a fresh Fortnox company has (recorded: units/all.yml and
termsofpayments/all.yml list these units and terms), a few currencies and price list "A".
``demo`` adds a small Swedish wholesaler made with Faker's ``sv_SE`` locale and valid organisation
numbers: customers (the first few are also in webCRM's demo system, see
:mod:`webcrm_fortnox.emulation.shared_demo`), articles with prices, orders and invoices (some
invoiced from orders, some booked). The data is the same on every run for the same tenant id.
Benchmarks ask for more with the ``customers``, ``articles``, ``orders`` and ``invoices`` options
of ``/_emulator/seed``.
Seeding publishes no change events.
"""

from __future__ import annotations

from typing import Any

from faker import Faker
from stdnum import luhn

from webcrm_fortnox.emulation.shared_demo import shared_companies
from webcrm_fortnox.fortnox.emulator import schema
from webcrm_fortnox.fortnox.emulator.collection import Collection
from webcrm_fortnox.fortnox.emulator.state import Tenant

UNITS = (
    ("förp", "pack", "förpackning"),
    ("h", "h", "timmar"),
    ("km", "km", "Kilometer"),
    ("st", "pcs", "styck"),
    ("utl", "exp", "Utlägg"),
)
TERMS = (
    *((str(days), f"{days} dagar") for days in (0, 10, 15, 20, 30)),
    ("AG", "Autogiro"),
    ("K", "Kontant"),
    ("PF", "Postförskott"),
)
CURRENCIES = (
    ("DKK", "Danska kronor", 1.46, 1.48),
    ("EUR", "Euro", 10.9, 11.1),
    ("GBP", "Brittiska pund", 12.8, 13.1),
    ("NOK", "Norska kronor", 0.95, 0.97),
    ("USD", "Amerikanska dollar", 9.9, 10.2),
)
PRODUCTS = (
    ("Skruvdragare 18V", 1290.0, "st"),
    ("Borrsats 10 delar", 249.0, "st"),
    ("Arbetshandskar", 89.0, "förp"),
    ("Säkerhetsglasögon", 129.0, "st"),
    ("Montering", 650.0, "h"),
    ("Konsulttimme", 950.0, "h"),
    ("Kabelvinda 25 m", 399.0, "st"),
    ("LED-strålkastare", 549.0, "st"),
    ("Trappstege 5 steg", 899.0, "st"),
    ("Resa", 45.0, "km"),
    ("Verktygslåda", 459.0, "st"),
    ("Skyddsskor", 1095.0, "st"),
)


def organisation_number(fake: Faker) -> str:
    """A valid Swedish organisation number (NNNNNN-NNNC, Luhn check digit)."""
    body = "55" + fake.numerify("#######")
    return f"{body[:6]}-{body[6:]}{luhn.calc_check_digit(body)}"


def _put(coll: Collection, tenant: Tenant, values: dict[str, Any]) -> None:
    record = schema.defaults(coll.spec)
    record.update(values)
    coll.store(tenant, record, None)


def seed_tenant(tenant: Tenant, kind: str, **options: Any) -> dict[str, int]:
    """Fill an empty company with ``empty`` (registers only) or ``demo`` data.

    Returns:
        How many records of each kind were made.
    """
    from webcrm_fortnox.fortnox.emulator import registers

    if kind not in ("demo", "empty"):
        raise ValueError("seed must be 'demo' or 'empty'")
    for code, english, description in UNITS:
        _put(
            registers.UNITS,
            tenant,
            {"Code": code, "CodeEnglish": english, "Description": description},
        )
    for code, description in TERMS:
        _put(registers.TERMS_OF_PAYMENT, tenant, {"Code": code, "Description": description})
    for code, description, buy, sell in CURRENCIES:
        _put(
            registers.CURRENCIES,
            tenant,
            {
                "Code": code,
                "Description": description,
                "BuyRate": buy,
                "SellRate": sell,
                "Date": tenant.today().isoformat(),
            },
        )
    _put(
        registers.PRICE_LISTS, tenant, {"Code": "A", "Description": "Standard", "PreSelected": True}
    )
    demo = kind == "demo"
    counts = {
        "customers": int(options.get("customers", 25 if demo else 0)),
        "articles": int(options.get("articles", len(PRODUCTS) if demo else 0)),
        "orders": int(options.get("orders", 8 if demo else 0)),
        "invoices": int(options.get("invoices", 10 if demo else 0)),
    }
    _fill(tenant, counts)
    return counts


def _fill(tenant: Tenant, counts: dict[str, int]) -> None:
    from webcrm_fortnox.fortnox.emulator import documents, prices
    from webcrm_fortnox.fortnox.emulator.articles import ARTICLES
    from webcrm_fortnox.fortnox.emulator.customers import CUSTOMERS

    fake = Faker("sv_SE")
    fake.seed_instance(tenant.id)
    customers: list[str] = []
    for company in shared_companies(counts["customers"]):
        record = CUSTOMERS.create(
            tenant,
            {
                "Name": company.name,
                "Type": "COMPANY",
                "OrganisationNumber": company.organisation_number,
                "Address1": company.address,
                "ZipCode": company.postcode,
                "City": company.city,
                "CountryCode": "SE",
                "Phone1": company.phone,
                "Email": company.email,
                "WWW": company.www,
                "TermsOfPayment": "30",
            },
            announce=False,
        )
        customers.append(record["CustomerNumber"])
    for i in range(len(customers), counts["customers"]):
        private = i % 5 == 4
        name = fake.name() if private else fake.company()
        record = CUSTOMERS.create(
            tenant,
            {
                "Name": name,
                "Type": "PRIVATE" if private else "COMPANY",
                "OrganisationNumber": "" if private else organisation_number(fake),
                "Address1": fake.street_address(),
                "ZipCode": fake.postcode(),
                "City": fake.city(),
                "CountryCode": "SE",
                "Phone1": fake.phone_number(),
                "Email": fake.email(),
                "WWW": "" if private else f"www.{fake.domain_name()}",
                "TermsOfPayment": "30",
            },
            announce=False,
        )
        customers.append(record["CustomerNumber"])
    articles: list[str] = []
    for i in range(counts["articles"]):
        description, price, unit = PRODUCTS[i % len(PRODUCTS)]
        if i >= len(PRODUCTS):
            description = f"{description} {i // len(PRODUCTS) + 1}"
        article = ARTICLES.create(
            tenant,
            {
                "Description": description,
                "Unit": unit,
                "PurchasePrice": round(price * 0.6, 2),
                "Type": "SERVICE" if unit == "h" else "STOCK",
                "QuantityInStock": 0 if unit == "h" else fake.random_int(0, 200),
            },
            announce=False,
        )
        articles.append(article["ArticleNumber"])
        record = {
            "ArticleNumber": article["ArticleNumber"],
            "PriceList": "A",
            "FromQuantity": 0.0,
            "Percent": 0.0,
            "Price": price,
            "Date": tenant.today().isoformat(),
        }
        tenant.table("prices").put(prices._key("A", article["ArticleNumber"], 0.0), record)
        ARTICLES.store(tenant, {**article, "SalesPrice": price}, None)
    if not customers or not articles:
        return
    for kind, count in (("orders", counts["orders"]), ("invoices", counts["invoices"])):
        coll = documents.ORDERS if kind == "orders" else documents.INVOICES
        rows_key = "OrderRows" if kind == "orders" else "InvoiceRows"
        for n in range(count):
            rows = []
            for _ in range(1 + n % 3):
                quantity = fake.random_int(1, 10)
                row: dict[str, Any] = {
                    "ArticleNumber": articles[fake.random_int(0, len(articles) - 1)]
                }
                if kind == "orders":
                    row["OrderedQuantity"] = quantity
                else:
                    row["DeliveredQuantity"] = quantity
                rows.append(row)
            customer = customers[fake.random_int(0, len(customers) - 1)]
            record = coll.create(
                tenant, {"CustomerNumber": customer, rows_key: rows}, announce=False
            )
            if kind == "invoices" and n % 3 == 0:
                documents.INVOICES.store(
                    tenant,
                    {
                        **record,
                        "Booked": True,
                        "VoucherSeries": "B",
                        "VoucherNumber": tenant.next_number("voucher:B"),
                        "VoucherYear": 1,
                    },
                    None,
                )
