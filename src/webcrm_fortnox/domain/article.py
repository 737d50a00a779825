"""Articles: Fortnox's article register as items of webCRM's product register.

Fortnox is the system of record: every canonical field flows to webCRM only, and a blank (an
article whose price was removed) clears the item's value too. A canonical article is::

    article_number  the Fortnox ArticleNumber; in the configured Data field (default Data1)
    name            the Fortnox Description; in the configured Data field (default Data2)
    cost_price      the Fortnox PurchasePrice; the item's CostPrice
    list_price      the article's price in the default (or configured) price list; the item's
                    Price, which webCRM copies into a quotation line's price and list price
    active          whether the article is active in Fortnox; an inactive one keeps its item,
                    whose name then ends with the configured suffix (default " (inactive)")

Amounts are text with two decimals (``"199.50"``), the precision Fortnox stores prices with
(reference §8.4), so the same price compares equal from both sides; no price is ``"0.00"``, as
webCRM's item price is a number that reads 0 when unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

from webcrm_fortnox.domain.normalise import text
from webcrm_fortnox.engine.ports import Direction, EntitySpec, FieldRule, MatchKey, Policy, Value

if TYPE_CHECKING:
    from webcrm_fortnox.domain.settings import ArticleFields
    from webcrm_fortnox.webcrm.models import LinkedSetup

ENTITY: Final = "article"
ARTICLE_FIELDS: Final = ("article_number", "name", "cost_price", "list_price", "active")
ITEM_PREFIX: Final = "QuotationLineLinkedDataItem"
_CENT = Decimal("0.01")
ZERO: Final = "0.00"


def money(value: Any) -> str | None:
    """An amount as text with two decimals, rounded half-up as Fortnox does; blank is ``None``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return str(amount.quantize(_CENT, rounding=ROUND_HALF_UP))


def article_spec() -> EntitySpec:
    """The engine's description of articles: created in webCRM only, every field one-way."""
    rule = FieldRule(Direction.TO_WEBCRM, Policy.FORTNOX, blank_overwrites=True)
    return EntitySpec(
        entity=ENTITY,
        rules={name: rule for name in ARTICLE_FIELDS},
        match_keys=(MatchKey("article number", ("article_number",)),),
        create_in=frozenset({"webcrm"}),
        required_for_create={"webcrm": ("article_number", "name")},
    )


def article_from_fortnox(
    item: Mapping[str, Any], *, active: bool, list_price: Any = None, use_sales_price: bool = True
) -> dict[str, Value]:
    """A canonical article from a Fortnox article (list item or full record, Fortnox names).

    Args:
        item: the article as Fortnox shows it (``ArticleNumber``, ``Description``, …).
        active: whether it is active (the list does not say; the caller knows from
            ``filter=inactive``).
        list_price: the price from a configured price list, when one is configured.
        use_sales_price: take the list price from ``SalesPrice`` (the default price list).
    """
    price = item.get("SalesPrice") if use_sales_price else list_price
    return {
        "article_number": text(item.get("ArticleNumber")),
        "name": text(item.get("Description")),
        # No price and 0 are one value: the emulator reads an unset item price back as 0
        # (the reference calls it nullable; which the real API does is unconfirmed).
        "cost_price": money(item.get("PurchasePrice")) or ZERO,
        "list_price": money(price) or ZERO,
        "active": active,
    }


@dataclass(frozen=True)
class ItemMapping:
    """Where an article lives in a product-register item, from ``[tenant.articles]``."""

    number_field: str
    name_field: str
    inactive_suffix: str

    @classmethod
    def of(cls, settings: ArticleFields) -> ItemMapping:
        return cls(
            number_field=f"{ITEM_PREFIX}{settings.article_number_field}",
            name_field=f"{ITEM_PREFIX}{settings.name_field}",
            inactive_suffix=settings.inactive_suffix,
        )

    def to_canonical(self, item: Mapping[str, Any]) -> dict[str, Value]:
        """A canonical article from a product-register item (webCRM wire names)."""
        name = _data(item.get(self.name_field))
        suffix = self.inactive_suffix.strip()
        active = not (suffix and name.endswith(suffix))
        if not active:
            name = text(name[: -len(suffix)])
        return {
            "article_number": _data(item.get(self.number_field)),
            "name": name,
            "cost_price": money(item.get(f"{ITEM_PREFIX}CostPrice")) or ZERO,
            "list_price": money(item.get(f"{ITEM_PREFIX}Price")) or ZERO,
            "active": active,
        }

    def to_item(self, values: Mapping[str, Value], fields: Any = None) -> dict[str, Any]:
        """The item body (wire names) holding ``values``; only ``fields`` when given.

        The name and the active mark share one Data field, so a change of either writes both
        (``values`` must hold both).
        """
        wanted = set(values if fields is None else fields)
        body: dict[str, Any] = {}
        if "article_number" in wanted:
            body[self.number_field] = values.get("article_number") or ""
        if wanted & {"name", "active"}:
            name = str(values.get("name") or "")
            if values.get("active") is False:
                name = f"{name}{self.inactive_suffix}"
            body[self.name_field] = name
        if "cost_price" in wanted:
            body[f"{ITEM_PREFIX}CostPrice"] = _number(values.get("cost_price"))
        if "list_price" in wanted:
            body[f"{ITEM_PREFIX}Price"] = _number(values.get("list_price"))
        return body


def _data(value: Any) -> str:
    # recorded: empty Data fields are refused, so integrations write "-" for nothing (§4.4)
    cleaned = text(value)
    return "" if cleaned == "-" else cleaned


def _number(value: Value) -> float | None:
    return None if value in (None, "") else float(Decimal(str(value)))


def check_item_setup(settings: ArticleFields, setup: LinkedSetup) -> list[str]:
    """What webCRM's product-register setup (``/QuotationLines/LinkedSetup``) lacks.

    Returns:
        One message per configured ``Data`` field the register does not use, in words a
        webCRM administrator can act on; empty when all is in place.
    """
    problems = []
    for key, label in (("article_number_field", "article number"), ("name_field", "name")):
        field: str = getattr(settings, key)
        if not setup.uses_data(int(field.removeprefix("Data"))):
            problems.append(
                f"webCRM's product register does not use {field}, where the article {label} "
                f"is to go: switch on {field} in the quotation-line setup, or set "
                f"articles.{key} to a Data field it uses"
            )
    return problems
