"""Demo data: the CRM of a Swedish company selling IT equipment, licences and services.

Organisations (mostly Swedish, some Norwegian, Danish and Finnish; the first few are also
customers in Fortnox's demo company, see :mod:`webcrm_fortnox.emulation.shared_demo`) with valid
Swedish organisation and VAT numbers, their contacts, a product register, and deliveries with
lines picked from it. The same options always give the same data. Records are written through the
same validation as the API, without announcing them to hooks; their history is spread over the past
year so "changed since" has something to find.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from faker import Faker
from pydantic import BaseModel, ConfigDict, Field
from stdnum import luhn
from stdnum.se import orgnr

from webcrm_fortnox.emulation.shared_demo import SharedCompany, shared_companies
from webcrm_fortnox.webcrm.emulator.configuration import (
    CONTACT_ROLES,
    INDUSTRIES,
    ORGANISATION_STATUSES,
    PAYMENT_TERMS,
)
from webcrm_fortnox.webcrm.emulator.deliveries import DELIVERIES
from webcrm_fortnox.webcrm.emulator.dto import Record
from webcrm_fortnox.webcrm.emulator.kinds import EntityKind
from webcrm_fortnox.webcrm.emulator.linked_data import LINKED_DATA
from webcrm_fortnox.webcrm.emulator.organisations import ORGANISATIONS
from webcrm_fortnox.webcrm.emulator.persons import PERSONS
from webcrm_fortnox.webcrm.emulator.quotation_lines import QUOTATION_LINES
from webcrm_fortnox.webcrm.emulator.system import System
from webcrm_fortnox.webcrm.emulator.timestamps import format_time

USERS = (1, 2, 3, 4)  # the sales team's user ids (owners, responsibles)

# item name, unit, item group, price, cost price (SEK, excluding VAT)
CATALOGUE = (
    ('Bärbar dator 14" Pro', "st", "Hårdvara", 14995.0, 11200.0),
    ("Dockningsstation USB-C", "st", "Hårdvara", 2495.0, 1650.0),
    ('Bildskärm 27" QHD', "st", "Hårdvara", 3990.0, 2850.0),
    ("Nätverksswitch 24 portar", "st", "Hårdvara", 4590.0, 3300.0),
    ("Tangentbord trådlöst", "st", "Tillbehör", 795.0, 420.0),
    ("Ergonomisk mus", "st", "Tillbehör", 595.0, 310.0),
    ("Headset med brusreducering", "st", "Tillbehör", 1895.0, 1150.0),
    ("Microsoft 365 Business Standard", "mån", "Licenser", 139.0, 110.0),
    ("Antivirus företag", "år", "Licenser", 449.0, 300.0),
    ("Installation", "tim", "Tjänster", 950.0, 0.0),
    ("Projektledning", "tim", "Tjänster", 1150.0, 0.0),
    ("Supportavtal Bas", "mån", "Support", 1490.0, 600.0),
    ("Supportavtal Premium", "mån", "Support", 3490.0, 1400.0),
    ("Frakt", "st", "Övrigt", 195.0, 120.0),
)

# country as webCRM stores it (a localised name, not a code), Faker locale, currency, web domain
COUNTRIES = (
    ("Sverige", "sv_SE", "00: SEK", "se", 85),
    ("Norge", "no_NO", "02: NOK", "no", 5),
    ("Danmark", "da_DK", "03: DKK", "dk", 5),
    ("Finland", "fi_FI", "01: EUR", "fi", 5),
)
TYPES = (
    ("Customer", 55),
    ("Prospect", 24),
    ("Supplier", 8),
    ("Partner", 4),
    ("Private Customer", 6),
    ("", 3),
)
DELIVERY_STATUSES = (("New", 20), ("Planned", 20), ("OnGoing", 25), ("Completed", 35))


class SeedOptions(BaseModel):
    """How much demo data to make (benchmarks ask for 10,000 organisations)."""

    model_config = ConfigDict(extra="forbid")

    organisations: int = Field(25, ge=0, le=200_000)
    persons_per_organisation: int = Field(2, ge=0, le=10, description="at most, at random")
    deliveries: int = Field(15, ge=0, le=100_000)
    products: int = Field(len(CATALOGUE), ge=0, le=10_000)
    random_seed: int = 1


def _pick(rng: random.Random, weighted: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    return rng.choices(weighted, weights=[w[-1] for w in weighted])[0]


def swedish_orgnr(rng: random.Random) -> str:
    """A valid Swedish organisation number of an aktiebolag (``556…``), formatted."""
    digits = "556" + "".join(str(rng.randrange(10)) for _ in range(6))
    return str(orgnr.format(digits + luhn.calc_check_digit(digits)))


class _Seeder:
    def __init__(self, system: System, options: SeedOptions) -> None:
        self.system = system
        self.options = options
        self.rng = random.Random(options.random_seed)
        self.fakers: dict[str, Faker] = {}
        self.now = system.now()

    def faker(self, locale: str) -> Faker:
        if locale not in self.fakers:
            fake = Faker(locale)
            fake.seed_instance(self.options.random_seed)
            self.fakers[locale] = fake
        return self.fakers[locale]

    def write(self, kind: EntityKind, body: Record, age_days: float | None = None) -> Record:
        record = self.system.create(kind, body, announce=False)
        if age_days is not None and kind.audit_prefix:
            # a history for the demo: created some time ago, last changed since then
            created = self.now - timedelta(days=age_days)
            updated = created + (self.now - created) * self.rng.random()
            record[f"{kind.audit_prefix}CreatedAt"] = format_time(created)
            record[f"{kind.audit_prefix}UpdatedAt"] = format_time(updated)
            self.system.of(kind).put(record)
        return record

    def products(self) -> list[Record]:
        items = []
        for n in range(self.options.products):
            name, unit, group, price, cost = CATALOGUE[n % len(CATALOGUE)]
            if n >= len(CATALOGUE):
                name = f"{name} variant {n // len(CATALOGUE) + 1}"
            body: Record = {f"QuotationLineLinkedDataItemData{i}": "-" for i in range(4, 10)}
            body |= {
                "QuotationLineLinkedDataItemData1": str(1001 + n),
                "QuotationLineLinkedDataItemData2": name,
                "QuotationLineLinkedDataItemData3": unit,
                "QuotationLineLinkedDataItemItemGroup": group,
                "QuotationLineLinkedDataItemPrice": price,
                "QuotationLineLinkedDataItemCostPrice": cost,
                "QuotationLineLinkedDataItemVatCode": "3001",  # Fortnox: sales, 25 % VAT
            }
            items.append(self.write(LINKED_DATA, body))
        return items

    def organisation(self) -> Record:
        country, locale, currency, domain, _ = _pick(self.rng, COUNTRIES)
        fake = self.faker(locale)
        kind = _pick(self.rng, TYPES)[0]
        private = kind == "Private Customer"
        name = fake.name() if private else fake.company()
        body: Record = {
            "OrganisationName": name,
            "OrganisationAddress": fake.street_address(),
            "OrganisationPostCode": fake.postcode(),
            "OrganisationCity": fake.city(),
            "OrganisationCountry": country,
            "OrganisationTelephone": fake.phone_number(),
            "OrganisationOwner": self.rng.choice(USERS),
            "OrganisationCustom6": currency,
            "OrganisationCustom8": self.rng.choice(("Yes", "No")),
        }
        if kind:
            body["OrganisationType"] = kind
        if not private:
            slug = "".join(ch for ch in name.lower() if ch.isalnum())[:30]
            body["OrganisationWww"] = f"www.{slug}.{domain}"
            body["OrganisationIndustry"] = self.rng.choice(INDUSTRIES)
            body["OrganisationStatus"] = self.rng.choice(ORGANISATION_STATUSES)
            body["OrganisationCustom7"] = f"info@{slug or 'example'}.{domain}"
        if country == "Sverige" and not private:
            number = swedish_orgnr(self.rng)
            body["OrganisationExtraCustom2"] = number
            body["OrganisationVatNumber"] = f"SE{number.replace('-', '')}01"
        if kind in ("Customer", "Private Customer"):
            body["OrganisationCustom5"] = self.rng.choice(PAYMENT_TERMS)
        if self.rng.random() < 0.3:
            # a visiting address apart from the postal one: street, postcode, city, country
            body["OrganisationCustom1"] = fake.street_address()
            body["OrganisationCustom2"] = fake.postcode()
            body["OrganisationCustom3"] = fake.city()
            body["OrganisationCustom4"] = country
        return self.write(ORGANISATIONS, body, age_days=self.rng.uniform(1, 365))

    def shared(self, company: SharedCompany) -> Record:
        """An organisation that is also a customer in Fortnox's demo company."""
        body: Record = {
            "OrganisationName": company.name,
            "OrganisationType": "Customer",
            "OrganisationAddress": company.address,
            "OrganisationPostCode": company.postcode,
            "OrganisationCity": company.city,
            "OrganisationCountry": "Sverige",
            "OrganisationTelephone": company.phone,
            "OrganisationWww": company.www,
            "OrganisationOwner": self.rng.choice(USERS),
            "OrganisationExtraCustom2": company.organisation_number,
            "OrganisationVatNumber": f"SE{company.organisation_number.replace('-', '')}01",
            "OrganisationCustom5": PAYMENT_TERMS[0],
            "OrganisationCustom6": "00: SEK",
            "OrganisationCustom7": company.email,
        }
        return self.write(ORGANISATIONS, body, age_days=self.rng.uniform(1, 365))

    def persons(self, organisation: Record) -> list[Record]:
        if self.options.persons_per_organisation == 0:
            return []
        fake = self.faker("sv_SE")
        out = []
        for _ in range(self.rng.randint(1, self.options.persons_per_organisation)):
            first, last = fake.first_name(), fake.last_name()
            domain = organisation["OrganisationWww"].removeprefix("www.") or "example.se"
            body = {
                "PersonOrganisationId": organisation["OrganisationId"],
                "PersonFirstName": first,
                "PersonLastName": last,
                "PersonEmail": f"{first}.{last}@{domain}".lower(),
                "PersonDirectPhone": fake.phone_number(),
                "PersonTitle": fake.job()[:50],
                "PersonCustom1": self.rng.choice(CONTACT_ROLES),
            }
            out.append(self.write(PERSONS, body, age_days=self.rng.uniform(1, 365)))
        return out

    def delivery(self, organisation: Record, persons: list[Record], items: list[Record]) -> None:
        status = _pick(self.rng, DELIVERY_STATUSES)[0]
        picked = self.rng.sample(items, k=min(len(items), self.rng.randint(1, 4)))
        lines, total, margin = [], 0.0, 0.0
        for position, item in enumerate(picked, start=1):
            quantity = float(self.rng.randint(1, 10))
            discount = self.rng.choice((0.0, 0.0, 5.0, 10.0))
            price = item["QuotationLineLinkedDataItemPrice"]
            cost = item["QuotationLineLinkedDataItemCostPrice"]
            total += price * quantity * (1 - discount / 100)
            margin += (price * (1 - discount / 100) - cost) * quantity
            lines.append(
                {
                    "QuotationLineLinkedDataId": item["QuotationLineLinkedDataItemId"],
                    "QuotationLineQuantity": quantity,
                    "QuotationLineDiscount": discount,
                    "QuotationLineVatPercentage": 25.0,
                    "QuotationLineSortOrder": position * 10,
                }
            )
        ordered = self.now - timedelta(days=self.rng.uniform(1, 120))
        body = {
            "DeliveryOrganisationId": organisation["OrganisationId"],
            "DeliveryPersonId": self.rng.choice(persons)["PersonId"] if persons else 0,
            "DeliveryStatus": status,
            "DeliveryDescription": f"Leverans till {organisation['OrganisationName']}"[:200],
            "DeliveryOrderDate": format_time(ordered),
            "DeliveryOrderValue": round(total, 2),
            "DeliveryOrderGmValue": round(margin, 2),
            "DeliveryCurrencyName": "SEK",
            "DeliveryResponsible": self.rng.choice(USERS),
            "DeliveryPercent": 100 if status == "Completed" else 0,
        }
        if status == "Completed":
            body["DeliveryWonDate"] = format_time(ordered)
        delivery = self.write(DELIVERIES, body, age_days=(self.now - ordered).days + 1)
        for line in lines:
            line["QuotationLineOpportunityId"] = delivery["DeliveryId"]
            self.write(QUOTATION_LINES, line, age_days=(self.now - ordered).days + 1)


def seed_demo(system: System, options: SeedOptions) -> None:
    """Fill an empty ``system`` with demo data."""
    seeder = _Seeder(system, options)
    items = seeder.products()
    organisations = [seeder.shared(c) for c in shared_companies(options.organisations)]
    others = range(len(organisations), options.organisations)
    organisations += [seeder.organisation() for _ in others]
    persons = {o["OrganisationId"]: seeder.persons(o) for o in organisations}
    buyers = [o for o in organisations if o["OrganisationType"] in ("Customer", "Private Customer")]
    buyers = buyers or organisations
    if not items or not buyers:
        return
    for _ in range(options.deliveries):
        buyer = seeder.rng.choice(buyers)
        seeder.delivery(buyer, persons[buyer["OrganisationId"]], items)
