"""The small registers: units, terms of payment, currencies, price lists, company information."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from webcrm_fortnox.fortnox.emulator import errors, fields, schema
from webcrm_fortnox.fortnox.emulator.api import Context, answer, requires
from webcrm_fortnox.fortnox.emulator.collection import Collection, crud_routes
from webcrm_fortnox.fortnox.emulator.query import ListRules
from webcrm_fortnox.fortnox.emulator.state import Tenant

#: The company's own currency: always valid, whether or not the currency register lists it.
HOME_CURRENCY = "SEK"


def check_references(tenant: Tenant, record: dict[str, Any], changes: dict[str, Any]) -> None:
    """Refuse a customer or document whose new ``TermsOfPayment`` or ``Currency`` is no code of
    the company's registers, and store the register's spelling of one given in another case.

    Reference §5.1 (customer fields): ``Currency`` "must exist", ``TermsOfPayment`` "code, must
    exist"; §5.6: a customer's or invoice's terms "must reference an existing code". The
    reference records no code for either refusal: unknown terms answer the terms register's own
    "not found" code and message (2000429), an unknown currency the generic 2001392 naming the
    field.
    """
    terms = changes.get("TermsOfPayment")
    if terms:
        code = _registered(tenant, "termsofpayments", str(terms))
        if code is None:
            raise errors.invalid(errors.TERMS_NOT_FOUND)
        record["TermsOfPayment"] = code
    currency = changes.get("Currency")
    if currency:
        code = (
            HOME_CURRENCY
            if str(currency).upper() == HOME_CURRENCY
            else _registered(tenant, "currencies", str(currency))
        )
        if code is None:
            raise errors.invalid(errors.NO_DATA).naming("Currency")
        record["Currency"] = code


def _registered(tenant: Tenant, table: str, code: str) -> str | None:
    """The register's code equal to ``code`` (case aside), or ``None``."""
    rows = tenant.table(table)
    if code in rows:
        return code
    wanted = code.casefold()
    return next((str(key) for key in rows if str(key).casefold() == wanted), None)


def _by_code(search: tuple[str, ...] = ()) -> ListRules:
    return ListRules(
        search={name.lower(): name for name in ("Code", *search)},
        sort={"code": "Code"},
        default_sort="Code",
    )


def _unique_code(coll_name: str) -> Any:
    def prepare(tenant: Tenant, record: dict[str, Any], changes: dict[str, Any], new: bool) -> None:
        if new and str(record["Code"]) in tenant.table(coll_name):
            raise errors.invalid(errors.INVALID_IDENTIFIER)

    return prepare


UNITS = Collection(
    name="units",
    single="Unit",
    plural="Units",
    spec=fields.UNIT,
    item_spec=fields.UNIT,
    key="Code",
    not_found=errors.UNIT_NOT_FOUND,
    scope="settings",
    rules=_by_code(("Description",)),
    location="units",
    prepare=_unique_code("units"),
)

TERMS_OF_PAYMENT = Collection(
    name="termsofpayments",
    single="TermsOfPayment",
    plural="TermsOfPayments",
    spec=fields.TERMS_OF_PAYMENT,
    item_spec=fields.TERMS_OF_PAYMENT,
    key="Code",
    not_found=errors.TERMS_NOT_FOUND,
    scope="settings",
    rules=_by_code(("Description",)),
    location="paymentterms",  # recorded: termsofpayments/save_new.yml
    topic="termsofpayments",
    event_names=(
        "termsofpayments-created-v1",
        "termsofpayments-updated-v1",
        "termsofpayments-deleted-v1",
    ),
    prepare=_unique_code("termsofpayments"),
)


def _currency_date(
    tenant: Tenant, record: dict[str, Any], changes: dict[str, Any], new: bool
) -> None:
    _unique_code("currencies")(tenant, record, changes, new)
    record["Date"] = tenant.today().isoformat()


CURRENCIES = Collection(
    name="currencies",
    single="Currency",
    plural="Currencies",
    spec=fields.CURRENCY,
    item_spec=fields.CURRENCY,
    key="Code",
    not_found=errors.CURRENCY_NOT_FOUND,
    scope="currency",
    # reference §4: /3/currencies?lastmodified=… answers 2000588
    rules=ListRules(
        search={"code": "Code", "description": "Description"},
        sort={"code": "Code"},
        default_sort="Code",
        lastmodified=False,
    ),
    location="currencies",
    topic="currencies",
    event_names=("currency-created-v1", "currency-updated-v1", "currency-deleted-v1"),
    prepare=_currency_date,
)

PRICE_LISTS = Collection(
    name="pricelists",
    single="PriceList",
    plural="PriceLists",
    spec=fields.PRICE_LIST,
    item_spec=fields.PRICE_LIST,
    key="Code",
    not_found=errors.PRICE_LIST_NOT_FOUND,
    scope="price",
    rules=_by_code(("Description",)),
    location="pricelists",
    prepare=_unique_code("pricelists"),
    deletable=False,  # reference §5.3: price lists have GET/POST/PUT only
)


def company_information(tenant: Tenant) -> dict[str, Any]:
    """``CompanyInformation`` of a company; ``DatabaseNumber`` is its TenantId (reference §1.3)."""
    settings = tenant.settings
    record = {
        "Address": settings.get("address", "Storgatan 1"),
        "City": settings.get("city", "Stockholm"),
        "CountryCode": "SE",
        "DatabaseNumber": tenant.id,
        "CompanyName": settings.get("company_name", ""),
        "OrganizationNumber": settings.get("organisation_number", ""),
        "VisitAddress": settings.get("address", "Storgatan 1"),
        "VisitCity": settings.get("city", "Stockholm"),
        "VisitCountryCode": "SE",
        "VisitZipCode": settings.get("zip_code", "111 22"),
        "ZipCode": settings.get("zip_code", "111 22"),
    }
    return schema.render(fields.COMPANY_INFORMATION, record)


def routes(router: APIRouter) -> None:
    """Add the registers' endpoints."""
    for coll in (UNITS, TERMS_OF_PAYMENT, CURRENCIES, PRICE_LISTS):
        crud_routes(router, coll)

    @router.get("/companyinformation", name="get companyinformation")
    async def get_company(
        ctx: Context = Depends(requires("companyinformation")),  # noqa: B008
    ) -> Response:
        return answer({"CompanyInformation": company_information(ctx.tenant)})
