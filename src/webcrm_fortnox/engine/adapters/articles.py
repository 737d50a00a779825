"""Articles on both sides: Fortnox's article register and webCRM's product register.

Both are read in full on every run, which costs little and misses nothing:

* Fortnox lists 500 articles per request, and each list item carries ``PurchasePrice`` and
  ``SalesPrice`` (the price in the default price list), so no article is read one by one. A
  price change does not always move the article's ``lastmodified`` (the price lives in
  ``/3/prices``), so a ``lastmodified`` read could miss it; the full list cannot. One more
  request (``filter=inactive``) tells which articles are inactive, which list items do not say.
  Only a configured non-default price list costs a request per article.
* webCRM returns the whole product register in one unpaged request (reference §4.1).

Each run is therefore a full reconciliation for articles: the cursor stays ``None``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from webcrm_fortnox.domain.article import (
    ENTITY,
    ITEM_PREFIX,
    ItemMapping,
    article_from_fortnox,
    check_item_setup,
)
from webcrm_fortnox.engine.ports import ChangeBatch, Fields, SourceRecord, System
from webcrm_fortnox.errors import NotFound, ValidationError
from webcrm_fortnox.webcrm.models import LinkedDataItem
from webcrm_fortnox.webcrm.timing import SETUP_MAX_AGE

if TYPE_CHECKING:
    from webcrm_fortnox.config.models import ArticleSettings
    from webcrm_fortnox.fortnox.client import FortnoxClient
    from webcrm_fortnox.webcrm.client import WebcrmClient


class FortnoxArticles:
    """The article register of one Fortnox company, in canonical form (read only).

    Args:
        client: the company's Fortnox client.
        settings: ``[tenant.articles]``.
    """

    system: System = "fortnox"
    entity: str = ENTITY

    def __init__(self, client: FortnoxClient, settings: ArticleSettings) -> None:
        self.client = client
        self.settings = settings

    async def _list_price(self, number: str) -> Any:
        if self.settings.price_list is None:
            return None
        try:
            price = await self.client.prices.get(number, price_list=self.settings.price_list)
        except NotFound:
            return None
        return price.price

    async def _record(self, data: dict[str, Any], *, active: bool) -> SourceRecord:
        number = str(data.get("ArticleNumber") or "")
        fields = article_from_fortnox(
            data,
            active=active,
            list_price=await self._list_price(number),
            use_sales_price=self.settings.price_list is None,
        )
        return SourceRecord(id=number, fields=fields)

    async def _all(self) -> list[SourceRecord]:
        inactive = {
            str(item.article_number)
            async for item in self.client.articles.iterate(filter="inactive")
        }
        return [
            await self._record(
                item.model_dump(by_alias=True), active=str(item.article_number) not in inactive
            )
            async for item in self.client.articles.iterate()
        ]

    async def changes(self, cursor: str | None) -> ChangeBatch:
        """Every article (see the module docstring); the cursor stays ``None``."""
        return ChangeBatch(records=await self._all(), next_cursor=None)

    async def all(self) -> AsyncIterator[SourceRecord]:
        """Every article."""
        for record in await self._all():
            yield record

    async def get(self, id: str) -> SourceRecord | None:
        """The article with this number, or ``None`` when there is none."""
        try:
            article = await self.client.articles.get(id)
        except NotFound:
            return None
        return await self._record(
            article.model_dump(by_alias=True), active=article.active is not False
        )

    async def create(self, fields: Fields, idempotency_key: str) -> SourceRecord:
        """Refused: Fortnox owns the article register, nothing is created there from webCRM."""
        raise ValidationError(
            "articles are kept in Fortnox and are not created from webCRM", system="fortnox"
        )

    async def update(self, id: str, changes: Fields, current: SourceRecord) -> SourceRecord:
        """Refused: every article field flows from Fortnox to webCRM only."""
        raise ValidationError(
            "articles are kept in Fortnox and are not changed from webCRM", system="fortnox"
        )

    async def find_by_key(self, idempotency_key: str) -> SourceRecord | None:
        """Always ``None``: no article is ever created from a webCRM item."""
        return None


class WebcrmProducts:
    """The product register of one webCRM system (``/QuotationLines/LinkedData``).

    An item made from a Fortnox article holds the article number in the configured ``Data``
    field, which is also its idempotency key (webCRM can require it to be unique).

    Args:
        client: the system's webCRM client.
        settings: ``[tenant.articles]``.
    """

    system: System = "webcrm"
    entity: str = ENTITY

    def __init__(self, client: WebcrmClient, settings: ArticleSettings) -> None:
        self.client = client
        self.settings = settings
        self.mapping = ItemMapping.of(settings)

    async def check_setup(self) -> list[str]:
        """What the product-register setup lacks for ``[tenant.articles]`` (empty: all set)."""
        setup = await self.client.quotation_line_setup(max_age=SETUP_MAX_AGE)
        problems = check_item_setup(self.settings, setup)
        if problems:
            self.client.forget_setup()  # read afresh next run: it may be being fixed
        return problems

    def _record(self, item_id: int, data: dict[str, Any]) -> SourceRecord:
        fields = self.mapping.to_canonical(data)
        return SourceRecord(
            id=str(item_id), fields=fields, key=str(fields["article_number"] or "") or None
        )

    def _from_item(self, item: LinkedDataItem) -> SourceRecord:
        return self._record(item.id, item.model_dump(mode="json", by_alias=True))

    async def changes(self, cursor: str | None) -> ChangeBatch:
        """Every item (one request); the cursor stays ``None``."""
        items = await self.client.product_register()
        return ChangeBatch(records=[self._from_item(i) for i in items], next_cursor=None)

    async def all(self) -> AsyncIterator[SourceRecord]:
        """Every item of the product register."""
        for item in await self.client.product_register():
            yield self._from_item(item)

    async def get(self, id: str) -> SourceRecord | None:
        """The item with this id, or ``None`` when there is none."""
        try:
            return self._from_item(await self.client.get_product_register_item(int(id)))
        except NotFound:
            return None

    async def create(self, fields: Fields, idempotency_key: str) -> SourceRecord:
        """Add an item for the article ``idempotency_key`` (its number)."""
        values = {**fields, "article_number": idempotency_key}
        body = {**self.mapping.to_item(values), f"{ITEM_PREFIX}EntityType": "Product"}
        new_id = await self.client.create_product_register_item(
            body, unique_field=self.mapping.number_field
        )
        # webCRM stores the values as sent; reading the item back would only cost a request.
        return self._record(new_id, body)

    async def update(self, id: str, changes: Fields, current: SourceRecord) -> SourceRecord:
        """Overwrite the changed fields (webCRM edits to an item do not survive a change)."""
        values = {**current.fields, **changes}
        body = self.mapping.to_item(values, fields=changes)
        await self.client.update_product_register_item(int(id), body)
        return SourceRecord(id=id, fields=values, key=current.key)

    async def find_by_key(self, idempotency_key: str) -> SourceRecord | None:
        """The item holding article number ``idempotency_key``, if any."""
        found = await self.client.find_product_register_items(
            self.mapping.number_field, idempotency_key
        )
        if not found:
            return None
        return self._from_item(min(found, key=lambda item: item.id))
