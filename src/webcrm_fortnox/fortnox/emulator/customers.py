"""Customers (``/3/customers``, scope ``customer``).

Numbers are handed out in sequence as strings ("1", "2", …), skipping numbers a client chose
itself. A number once used is burned: creating a customer with the number of an existing or a
deleted customer answers 2000637 (reference §5.1; the code for an existing one is unconfirmed).
``Country``, ``DeliveryCountry`` and ``VisitingCountry`` are read-only Swedish country names
derived from the codes (recorded: customers/save_new_with_country_code_SE.yml, SE → "Sverige").
Terms of payment and currency must be codes of the company's registers (reference §5.1). The
reference also says an organisation number "must be a valid organisation number" without saying
what Fortnox counts as valid (nor for which countries), so any number of up to 30 characters is
taken.
"""

from __future__ import annotations

from typing import Any

from babel import Locale
from fastapi.responses import Response

from webcrm_fortnox.fortnox.emulator import errors, fields
from webcrm_fortnox.fortnox.emulator.api import Context, answer
from webcrm_fortnox.fortnox.emulator.collection import Collection, Series
from webcrm_fortnox.fortnox.emulator.query import ListRules
from webcrm_fortnox.fortnox.emulator.registers import check_references
from webcrm_fortnox.fortnox.emulator.state import Tenant

BURNED = "customers_burned"
_COUNTRY_FIELDS = (
    ("CountryCode", "Country"),
    ("DeliveryCountryCode", "DeliveryCountry"),
    ("VisitingCountryCode", "VisitingCountry"),
)


def country_name(code: str) -> str:
    """The Swedish name Fortnox shows for an ISO 3166 alpha-2 code, or a 400 if unknown."""
    name = Locale("sv").territories.get(code.upper())
    if name is None or len(code) != 2:
        raise errors.invalid(errors.NO_DATA)
    return str(name)


def _taken(tenant: Tenant, number: str) -> bool:
    return number in tenant.table("customers") or number in tenant.table(BURNED)


def _prepare(tenant: Tenant, record: dict[str, Any], changes: dict[str, Any], new: bool) -> None:
    if new:
        if not record.get("Name"):
            raise errors.invalid(errors.NO_DATA)
        if "CustomerNumber" in changes and _taken(tenant, str(changes["CustomerNumber"])):
            raise errors.invalid(errors.CUSTOMER_NUMBER_USED, value=changes["CustomerNumber"])
    check_references(tenant, record, changes)
    for code_field, name_field in _COUNTRY_FIELDS:
        code = record.get(code_field)
        record[name_field] = country_name(code) if code else None


def _item(tenant: Tenant, record: dict[str, Any]) -> dict[str, Any]:
    # recorded: customers/all.yml — Phone is Phone1 and missing strings are ""
    view = {
        name: record.get(name) or ""
        for name in (
            "Address1",
            "Address2",
            "City",
            "Email",
            "Name",
            "OrganisationNumber",
            "ZipCode",
        )
    }
    view["CustomerNumber"] = record["CustomerNumber"]
    view["Phone"] = record.get("Phone1") or ""
    return view


class Customers(Collection):
    """Customers burn their number on delete and echo ``SalesAccount`` as a number on create."""

    def one(self, ctx: Context, record: dict[str, Any], status: int = 200) -> Response:
        if status != 201 or not str(record.get("SalesAccount") or "").isdigit():
            return super().one(ctx, record, status)
        # recorded: customers/save_new_with_sales_account.yml answers "SalesAccount":3001 while
        # every later read (find_with_sales_account.yml) answers "3001"
        body = self.render(ctx, record)
        body["SalesAccount"] = int(record["SalesAccount"])
        return answer({self.single: body}, status, self.location)

    def delete(self, tenant: Tenant, key: str) -> None:
        super().delete(tenant, key)
        tenant.table(BURNED).put(key, {"deleted": tenant.now()})


CUSTOMERS = Customers(
    name="customers",
    single="Customer",
    plural="Customers",
    spec=fields.CUSTOMER,
    item_spec=fields.CUSTOMER_ITEM,
    key="CustomerNumber",
    not_found=errors.CUSTOMER_NOT_FOUND,
    scope="customer",
    rules=ListRules(
        search={
            "customernumber": "CustomerNumber",
            "name": "Name",
            "zipcode": "ZipCode",
            "city": "City",
            "email": "Email",
            "phone": "Phone1",
            "organisationnumber": "OrganisationNumber",
            "gln": "GLN",
            "glndelivery": "GLNDelivery",
        },
        sort={"customernumber": "CustomerNumber", "name": "Name"},
        default_sort="CustomerNumber",
        filters={
            "active": lambda r, today: bool(r.get("Active")),
            "inactive": lambda r, today: not r.get("Active"),
        },
    ),
    location="customers",
    topic="customers",
    # reference §7.2: note the v2 of the update event
    event_names=("customer-created-v1", "customer-updated-v2", "customer-deleted-v1"),
    series=Series("customer", ("customers", BURNED)),
    prepare=_prepare,
    item_view=_item,
)
