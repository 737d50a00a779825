"""Prices (``/3/prices``, scope ``price``): one price per price list, article and from-quantity.

Endpoints (reference §5.3)::

    POST   /3/prices                                       201, Location "prices" (unrecorded)
    GET    /3/prices/sublist/{PriceList}/{ArticleNumber}   every price of the article in the list
    GET    /3/prices/{PriceList}/{ArticleNumber}           the price from quantity 0
    PUT    /3/prices/{PriceList}/{ArticleNumber}
    GET    /3/prices/{PriceList}/{ArticleNumber}/{FromQuantity}
    PUT    /3/prices/{PriceList}/{ArticleNumber}/{FromQuantity}
    DELETE /3/prices/{PriceList}/{ArticleNumber}/{FromQuantity}

The price of list "A" from quantity 0 is the article's read-only ``SalesPrice``. Since the topics
API has no price topic, a price write is announced as ``article-updated-v1`` of its article, and it
moves the article's modification time so ``lastmodified`` finds the article too.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from webcrm_fortnox.fortnox.emulator import errors, fields, query, schema
from webcrm_fortnox.fortnox.emulator.api import Context, answer, read_entity, requires
from webcrm_fortnox.fortnox.emulator.articles import ARTICLES
from webcrm_fortnox.fortnox.emulator.state import Tenant

DEFAULT_LIST = "A"
_FIELDS = schema.by_name(fields.PRICE)
_RULES = query.ListRules(
    search={"articlenumber": "ArticleNumber", "pricelist": "PriceList"},
    sort={"fromquantity": "FromQuantity"},
    default_sort="FromQuantity",
)


def _key(price_list: str, article: str, from_quantity: float) -> str:
    return f"{price_list}|{article}|{schema.number_out(float(from_quantity))}"


def _quantity(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise errors.not_found(errors.PRICE_NOT_FOUND) from None


def _find(tenant: Tenant, price_list: str, article: str, from_quantity: float) -> dict[str, Any]:
    record: dict[str, Any] | None = tenant.table("prices").get(
        _key(price_list, article, from_quantity)
    )
    if record is None:
        raise errors.not_found(errors.PRICE_NOT_FOUND)
    return record


def _render(ctx: Context, record: dict[str, Any], spec: schema.Spec = fields.PRICE) -> Any:
    url = ctx.url(
        "prices",
        record["PriceList"],
        record["ArticleNumber"],
        str(schema.number_out(float(record["FromQuantity"]))),
    )
    return schema.render(spec, {**record, "@url": url})


def _save(tenant: Tenant, record: dict[str, Any], *, deleted: bool = False) -> None:
    key = _key(record["PriceList"], record["ArticleNumber"], record["FromQuantity"])
    if deleted:
        tenant.table("prices").delete(key)
    else:
        record["Date"] = tenant.today().isoformat()
        record["_modified"] = tenant.now()
        tenant.table("prices").put(key, record)
    article = tenant.table("articles").get(record["ArticleNumber"])
    if article is not None:
        if record["PriceList"] == DEFAULT_LIST and float(record["FromQuantity"]) == 0:
            article = {**article, "SalesPrice": None if deleted else record["Price"]}
        ARTICLES.store(tenant, article, 1)


def sales_price(tenant: Tenant, article: str, price_list: str) -> float | None:
    """The price of an article from quantity 0 in a list (what document rows default to)."""
    record = tenant.table("prices").get(_key(price_list, article, 0.0))
    return None if record is None else float(record["Price"])


def routes(router: APIRouter) -> None:
    """Add the price endpoints."""
    auth = Depends(requires("price"))

    @router.post("/prices", name="create prices")
    async def create(request: Request, ctx: Context = auth) -> Response:
        changes = schema.parse(fields.PRICE, await read_entity(request, "Price"), fields=_FIELDS)
        record = schema.defaults(fields.PRICE)
        schema.merge(record, changes, fields.PRICE)
        tenant = ctx.tenant
        if not record.get("ArticleNumber") or record["ArticleNumber"] not in tenant.table(
            "articles"
        ):
            raise errors.invalid(errors.ARTICLE_MISSING)
        if not record.get("PriceList"):
            record["PriceList"] = DEFAULT_LIST
        if record["PriceList"] not in tenant.table("pricelists"):
            raise errors.invalid(errors.PRICE_LIST_NOT_FOUND)
        key = _key(record["PriceList"], record["ArticleNumber"], record["FromQuantity"])
        if key in tenant.table("prices"):
            raise errors.invalid(errors.INVALID_IDENTIFIER)
        if record.get("Price") is None:
            record["Price"] = 0.0
        _save(tenant, record)
        return answer({"Price": _render(ctx, record)}, 201, "prices")

    @router.get("/prices/sublist/{price_list}/{article}", name="list prices of article")
    async def sublist(
        price_list: str, article: str, request: Request, ctx: Context = auth
    ) -> Response:
        records = [
            r
            for r in ctx.tenant.table("prices").values()
            if r["PriceList"] == price_list and r["ArticleNumber"] == article
        ]
        page = query.select(records, dict(request.query_params), _RULES)
        items = [_render(ctx, r, fields.PRICE_ITEM) for r in page.items]
        return answer({"MetaInformation": page.meta(), "Prices": items})

    async def update(
        ctx: Context, request: Request, price_list: str, article: str, quantity: float
    ) -> Response:
        changes = schema.parse(fields.PRICE, await read_entity(request, "Price"), fields=_FIELDS)
        for fixed in ("ArticleNumber", "PriceList", "FromQuantity"):
            changes.pop(fixed, None)
        record = dict(_find(ctx.tenant, price_list, article, quantity))
        schema.merge(record, changes, fields.PRICE)
        _save(ctx.tenant, record)
        return answer({"Price": _render(ctx, record)})

    @router.get("/prices/{price_list}/{article}", name="get first price")
    async def get_first(price_list: str, article: str, ctx: Context = auth) -> Response:
        return answer({"Price": _render(ctx, _find(ctx.tenant, price_list, article, 0.0))})

    @router.put("/prices/{price_list}/{article}", name="update first price")
    async def put_first(
        price_list: str, article: str, request: Request, ctx: Context = auth
    ) -> Response:
        return await update(ctx, request, price_list, article, 0.0)

    @router.get("/prices/{price_list}/{article}/{quantity}", name="get price")
    async def get_one(
        price_list: str, article: str, quantity: str, ctx: Context = auth
    ) -> Response:
        record = _find(ctx.tenant, price_list, article, _quantity(quantity))
        return answer({"Price": _render(ctx, record)})

    @router.put("/prices/{price_list}/{article}/{quantity}", name="update price")
    async def put_one(
        price_list: str, article: str, quantity: str, request: Request, ctx: Context = auth
    ) -> Response:
        return await update(ctx, request, price_list, article, _quantity(quantity))

    @router.delete("/prices/{price_list}/{article}/{quantity}", name="delete price")
    async def delete(price_list: str, article: str, quantity: str, ctx: Context = auth) -> Response:
        record = _find(ctx.tenant, price_list, article, _quantity(quantity))
        _save(ctx.tenant, record, deleted=True)
        return Response(status_code=204)
