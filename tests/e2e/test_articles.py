"""Articles with prices from Fortnox to webCRM's product register, through the runner."""

from __future__ import annotations

from tests.e2e.harness import Systems, tenant
from webcrm_fortnox.engine.apply import RecordStatus
from webcrm_fortnox.fortnox.models import Article
from webcrm_fortnox.store import StateDatabase


async def _items(env: Systems) -> dict[str, dict[str, object]]:
    """The product register by article number (Data1 in the default setup)."""
    return {
        str(item.data(1)): {
            "name": item.data(2),
            "price": item.price,
            "cost": item.cost_price,
            "id": item.id,
        }
        for item in await env.webcrm.product_register()
    }


async def test_articles_with_prices_become_items_and_follow_fortnox(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant()
    hammer = await env.fortnox.articles.create(Article(description="Hammer", purchase_price=50))
    await env.fortnox.prices.set(str(hammer.article_number), "99.5")
    saw = await env.fortnox.articles.create(Article(description="Saw", active=False))

    run = await env.sync(config, db)

    assert run.exit_code == 0
    [articles] = [r for r in run.results if r.entity == "article"]
    assert articles.counts == {"synced": 2}
    items = await _items(env)
    assert items[str(hammer.article_number)] == {
        "name": "Hammer",
        "price": 99.5,
        "cost": 50.0,
        "id": items[str(hammer.article_number)]["id"],
    }
    assert items[str(saw.article_number)]["name"] == "Saw (inactive)"

    # Nothing changed: nothing is written.
    await env.reset_stats()
    env.clock.advance(60)
    assert (await env.sync(config, db)).exit_code == 0
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}

    # A price change alone reaches webCRM; an edit made in webCRM is overwritten.
    await env.fortnox.prices.set(str(hammer.article_number), 120)
    hammer_item = int(str(items[str(hammer.article_number)]["id"]))
    await env.webcrm.update_product_register_item(
        hammer_item, {"QuotationLineLinkedDataItemData2": "Hammer (edited in webCRM)"}
    )
    env.clock.advance(60)
    run = await env.sync(config, db)
    [articles] = [r for r in run.results if r.entity == "article"]
    assert [o.status for o in articles.outcomes] == [RecordStatus.SYNCED]
    after = (await _items(env))[str(hammer.article_number)]
    assert after["price"] == 120.0
    assert after["name"] == "Hammer"


async def test_items_made_in_webcrm_stay_and_are_reported(env: Systems, db: StateDatabase) -> None:
    await env.webcrm.create_product_register_item(
        {"QuotationLineLinkedDataItemData1": "W-1", "QuotationLineLinkedDataItemData2": "Own"}
    )
    run = await env.sync(tenant(), db)
    [articles] = [r for r in run.results if r.entity == "article"]
    [outcome] = articles.outcomes
    assert outcome.status is RecordStatus.EXCLUDED
    assert outcome.detail == "article records are not created in Fortnox"
    assert [a async for a in env.fortnox.articles.iterate()] == []


async def test_a_product_register_without_the_configured_data_field_stops_the_tenant(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant(articles={"name_field": "Data7"})
    run = await env.sync(config, db)
    assert run.exit_code == 1
    [problem] = run.setup_problems
    assert problem.message.startswith("webCRM's product register does not use Data7")
    assert [r.entity for r in run.results] == ["customer"]
