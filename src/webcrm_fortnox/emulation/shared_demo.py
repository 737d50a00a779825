"""The customers both emulators' demo companies hold.

A company that connects webCRM to Fortnox has kept many of its customers in both systems
already; ``match`` is the command for them. So the first few customers of Fortnox's demo company
and the first few organisations of webCRM's demo system are the same companies, with the same
organisation number, address and telephone, whatever else each side's demo data holds. They come
from a generator of their own, so both seeds make the same ones without talking to each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from faker import Faker
from stdnum import luhn
from stdnum.se import orgnr

#: How many customers the two demo companies share, at most (a third of the smaller seed).
SHARED_CUSTOMERS = 6

_SEED = 20_241_001  # not any seed of either side's own data, so the two stay apart


@dataclass(frozen=True)
class SharedCompany:
    """A customer known to both systems."""

    name: str
    organisation_number: str
    address: str
    postcode: str
    city: str
    phone: str
    email: str
    www: str


@cache
def _companies() -> tuple[SharedCompany, ...]:
    fake = Faker("sv_SE")
    fake.seed_instance(_SEED)
    companies = []
    for _ in range(SHARED_CUSTOMERS):
        name = fake.company()
        body = "556" + fake.numerify("######")
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:30] or "foretaget"
        companies.append(
            SharedCompany(
                name=name,
                organisation_number=str(orgnr.format(body + luhn.calc_check_digit(body))),
                address=fake.street_address(),
                postcode=fake.postcode(),
                city=fake.city(),
                phone=fake.phone_number(),
                email=f"info@{slug}.se",
                www=f"www.{slug}.se",
            )
        )
    return tuple(companies)


def shared_companies(customers: int) -> tuple[SharedCompany, ...]:
    """The shared customers among a demo seed of ``customers`` customers (a third of them, at
    most :data:`SHARED_CUSTOMERS`), the same first ones for any size."""
    return _companies()[: min(SHARED_CUSTOMERS, customers // 3)]
