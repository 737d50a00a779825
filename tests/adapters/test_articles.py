"""Article sources against both emulators: full reads, prices, the inactive filter, keys."""

from __future__ import annotations

import pytest

from tests.adapters.emulators import Emulators
from tests.domain.tenants import make_tenant
from webcrm_fortnox.engine.adapters.articles import FortnoxArticles, WebcrmProducts
from webcrm_fortnox.errors import ValidationError
from webcrm_fortnox.fortnox.models import Article

SETTINGS = make_tenant().articles


async def test_fortnox_articles_come_from_two_list_requests_with_default_prices(
    env: Emulators,
) -> None:
    hammer = await env.fortnox.articles.create(Article(description="Hammer", purchase_price=50))
    await env.fortnox.prices.set(str(hammer.article_number), "99.5")
    await env.fortnox.articles.create(Article(description="Saw", active=False))
    before = env.fortnox.stats["calls"]
    batch = await FortnoxArticles(env.fortnox, SETTINGS).changes("ignored")
    assert env.fortnox.stats["calls"] - before == 2  # the list and filter=inactive
    assert batch.next_cursor is None
    by_name = {r.fields["name"]: r.fields for r in batch.records}
    assert by_name["Hammer"]["list_price"] == "99.50"
    assert by_name["Hammer"]["cost_price"] == "50.00"
    assert by_name["Hammer"]["active"] is True
    assert by_name["Saw"]["active"] is False


async def test_a_price_only_change_is_seen_on_the_next_read(env: Emulators) -> None:
    hammer = await env.fortnox.articles.create(Article(description="Hammer"))
    source = FortnoxArticles(env.fortnox, SETTINGS)
    await source.changes(None)
    await env.fortnox.prices.set(str(hammer.article_number), 12)
    [record] = (await source.changes(None)).records
    assert record.fields["list_price"] == "12.00"


async def test_a_configured_price_list_is_read_per_article(env: Emulators) -> None:
    hammer = await env.fortnox.articles.create(Article(description="Hammer"))
    await env.fortnox.prices.set(str(hammer.article_number), 10)
    settings = make_tenant(articles={"price_list": "A"}).articles
    record = await FortnoxArticles(env.fortnox, settings).get(str(hammer.article_number))
    assert record is not None and record.fields["list_price"] == "10.00"
    await env.fortnox.articles.create(Article(description="No price"))
    listed = (await FortnoxArticles(env.fortnox, settings).changes(None)).records
    assert [r.fields["list_price"] for r in listed] == ["10.00", "0.00"]


async def test_fortnox_side_refuses_writes_and_knows_no_keys(env: Emulators) -> None:
    source = FortnoxArticles(env.fortnox, SETTINGS)
    assert await source.get("404") is None
    assert await source.find_by_key("1") is None
    with pytest.raises(ValidationError, match="kept in Fortnox"):
        await source.create({"name": "x"}, "1")


async def test_webcrm_item_created_updated_and_found_by_article_number(env: Emulators) -> None:
    products = WebcrmProducts(env.webcrm, SETTINGS)
    assert await products.check_setup() == []
    values = {"name": "Hammer", "cost_price": "50.00", "list_price": "99.50", "active": True}
    created = await products.create(values, "101")
    assert created.key == "101"
    assert created.fields == {**values, "article_number": "101"}
    updated = await products.update(created.id, {"active": False}, created)
    assert updated.fields["active"] is False
    item = await env.webcrm.get_product_register_item(int(created.id))
    assert item.data(2) == "Hammer (inactive)"
    assert item.data(1) == "101"
    found = await products.find_by_key("101")
    assert found is not None and found.id == created.id and found.fields["active"] is False
    assert await products.find_by_key("102") is None
    [listed] = (await products.changes(None)).records
    assert listed.fields == updated.fields
