"""Articles (``/3/articles``, scope ``article``).

Numbers are handed out in sequence as strings, skipping numbers a client chose. ``SalesPrice`` is
read-only: it mirrors the price of price list "A" from quantity 0 (see ``prices.py``).
``QuantityInStock`` is rounded half-up to two decimals (recorded: articles/limits/*.yml).
"""

from __future__ import annotations

from typing import Any

from webcrm_fortnox.fortnox.emulator import errors, fields
from webcrm_fortnox.fortnox.emulator.collection import Collection, Series
from webcrm_fortnox.fortnox.emulator.query import ListRules
from webcrm_fortnox.fortnox.emulator.state import Tenant


def _prepare(tenant: Tenant, record: dict[str, Any], changes: dict[str, Any], new: bool) -> None:
    if new:
        if not record.get("Description"):
            raise errors.invalid(errors.NO_DATA)
        if "ArticleNumber" in changes and str(changes["ArticleNumber"]) in tenant.table("articles"):
            raise errors.invalid(errors.INVALID_IDENTIFIER)
    if "VAT" in changes:
        record["_vat_given"] = True
    record["DisposableQuantity"] = (record.get("QuantityInStock") or 0.0) - (
        record.get("ReservedQuantity") or 0.0
    )


def _item(tenant: Tenant, record: dict[str, Any]) -> dict[str, Any]:
    # recorded: articles/all.yml shows VAT null for articles created without one
    return {**record, "VAT": record.get("VAT") if record.get("_vat_given") else None}


ARTICLES = Collection(
    name="articles",
    single="Article",
    plural="Articles",
    spec=fields.ARTICLE,
    item_spec=fields.ARTICLE_ITEM,
    key="ArticleNumber",
    not_found=errors.ARTICLE_NOT_FOUND,
    scope="article",
    rules=ListRules(
        search={
            "articlenumber": "ArticleNumber",
            "description": "Description",
            "ean": "EAN",
            "suppliernumber": "SupplierNumber",
            "manufacturer": "Manufacturer",
            "manufacturerarticlenumber": "ManufacturerArticleNumber",
        },
        exact={"webshop": "WebshopArticle"},
        sort={
            "articlenumber": "ArticleNumber",
            "quantityinstock": "QuantityInStock",
            "reservedquantity": "ReservedQuantity",
            "stockvalue": "StockValue",
        },
        default_sort="ArticleNumber",
        filters={
            "active": lambda r, today: bool(r.get("Active")),
            "inactive": lambda r, today: not r.get("Active"),
        },
    ),
    location="articles",
    topic="articles",
    event_names=("article-created-v1", "article-updated-v1", "article-deleted-v1"),
    series=Series("article", ("articles",)),
    prepare=_prepare,
    item_view=_item,
)
