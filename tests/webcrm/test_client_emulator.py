"""The client against the webCRM emulator in-process: every route the sync uses, and failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.errors import (
    AuthExpired,
    NotFound,
    PermissionDenied,
    ReconnectNeeded,
    ValidationError,
)
from webcrm_fortnox.webcrm.client import WebcrmClient, webcrm_limiters
from webcrm_fortnox.webcrm.emulator import DEFAULT_API_TOKEN
from webcrm_fortnox.webcrm.models import (
    DELIVERY,
    ORGANISATION,
    QUOTATION_LINE,
    Delivery,
    Hook,
    Organisation,
    Person,
    QuotationLine,
)

BASE_URL = "https://api.webcrm.com"
UNIQUE = "OrganisationExtraCustom8"


class Harness:
    """A client of the in-process emulator on its clock, plus the emulator's test controls."""

    def __init__(self, app: FastAPI, clock: EmulatorClock) -> None:
        self.app = app
        self.clock = clock
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
        self._control = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)

    async def aclose(self) -> None:
        await self.http.aclose()
        await self._control.aclose()

    async def sleep(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def client(self, api_token: str = DEFAULT_API_TOKEN, **options: Any) -> WebcrmClient:
        return WebcrmClient(
            api_token,
            base_url=BASE_URL,
            http=self.http,
            clock=self.clock.monotonic,
            sleep=self.sleep,
            **options,
        )

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        response = await self._control.request(method, f"/_emulator/{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def faults(self, **settings: Any) -> None:
        await self.control("PUT", "faults", settings)

    async def settings(self, **changes: Any) -> None:
        await self.control("PUT", "settings", changes)

    async def count(self, method: str, route: str, status: int | None = None) -> int:
        """Requests by route template, or by path for those refused before routing (faults)."""
        rows = (await self.control("GET", "stats"))["requests"]
        return sum(
            r["count"]
            for r in rows
            if r["method"] == method and r["route"] == route and status in (None, r["status"])
        )


@pytest.fixture
async def emulator(webcrm_app: FastAPI, webcrm_clock: EmulatorClock) -> AsyncIterator[Harness]:
    harness = Harness(webcrm_app, webcrm_clock)
    yield harness
    await harness.aclose()


@pytest.fixture
def client(emulator: Harness) -> WebcrmClient:
    return emulator.client()


# -- auth -----------------------------------------------------------------------------------------


async def test_logs_in_again_before_the_token_expires(
    emulator: Harness, client: WebcrmClient
) -> None:
    org_id = await client.create_organisation(Organisation(name="Acme"))
    emulator.clock.advance(3600 - 200)  # inside the last five minutes of the hour
    assert (await client.get_organisation(org_id)).name == "Acme"
    assert client.auth.logins == 2
    assert await emulator.count("GET", "/Organisations/{id:int}", 401) == 0


async def test_expired_tokens_are_replaced_after_the_401(
    emulator: Harness, client: WebcrmClient
) -> None:
    org_id = await client.create_organisation(Organisation(name="Acme"))
    await emulator.control("POST", "tokens/expire")
    assert (await client.get_organisation(org_id)).id == org_id
    assert client.auth.logins == 2
    assert await emulator.count("GET", "/Organisations/{id:int}", 401) == 1


async def test_spurious_401s_under_parallel_load_are_absorbed(
    emulator: Harness, client: WebcrmClient
) -> None:
    org_id = await client.create_organisation(Organisation(name="Acme"))
    # with seed 10 no request is refused twice in a row (which is raised, see below)
    await emulator.faults(spurious_401_rate=0.2, seed=10)
    found = await asyncio.gather(*(client.get_organisation(org_id) for _ in range(20)))
    assert {o.id for o in found} == {org_id}
    refused = await emulator.count("GET", f"/Organisations/{org_id}", 401)
    assert refused > 0
    assert client.auth.logins <= 1 + refused


async def test_a_token_refused_twice_in_a_row_gives_up(
    emulator: Harness, client: WebcrmClient
) -> None:
    org_id = await client.create_organisation(Organisation(name="Acme"))
    await emulator.faults(spurious_401_rate=1.0)
    with pytest.raises(AuthExpired):
        await client.get_organisation(org_id)
    assert await emulator.count("GET", f"/Organisations/{org_id}", 401) == 2


async def test_a_wrong_api_token_asks_the_user_to_check_it(emulator: Harness) -> None:
    with pytest.raises(ReconnectNeeded, match="check the token"):
        await emulator.client("00000000-0000-4000-8000-00000000dead").get_organisation(1)


async def test_a_system_without_api_access_names_the_plan(emulator: Harness) -> None:
    system = await emulator.control("POST", "tenants", {"seed": "empty", "api_access": False})
    with pytest.raises(PermissionDenied, match="PLUS or ENTERPRISE"):
        await emulator.client(system["api_token"]).get_organisation(1)


# -- rate limit -----------------------------------------------------------------------------------


async def test_429_is_retried_after_retry_after_on_emulated_time(
    emulator: Harness, client: WebcrmClient
) -> None:
    org_id = await client.create_organisation(Organisation(name="Acme"))
    await emulator.faults(force_429=1)
    start = emulator.clock.offset
    assert (await client.get_organisation(org_id)).id == org_id
    assert emulator.clock.offset - start >= 5  # the emulator's Retry-After
    assert client.stats.rate_limited == 1


async def test_the_client_stays_under_the_emulators_limit(emulator: Harness) -> None:
    client = emulator.client(page_size=1)
    for n in range(3):
        await client.create_organisation(Organisation(name=f"Org {n}"))
    # The emulator enforces 250 a minute; a client limited to 2 a minute never meets a 429.
    slow = emulator.client(
        limiters=webcrm_limiters(2, 60, monotonic=emulator.clock.monotonic, sleep=emulator.sleep)
    )
    start = emulator.clock.offset
    assert len([o async for o in slow.organisations()]) == 3
    # login and page 1 fill the window; page 2 waits for it (less the real time gone by)
    assert emulator.clock.offset - start > 50
    assert slow.stats.rate_limited == 0


# -- organisations --------------------------------------------------------------------------------


async def test_create_get_update_organisation(client: WebcrmClient) -> None:
    org_id = await client.create_organisation(
        {"OrganisationName": "Acme AB", "OrganisationCity": "Malmö", UNIQUE: "C-1"}
    )
    org = await client.get_organisation(org_id)
    assert (org.name, org.city, org.extra_custom(8)) == ("Acme AB", "Malmö", "C-1")
    assert org.type is None  # the unselected dropdown
    assert org.created_at is not None and org.created_at.tzinfo is not None
    await client.update_organisation(org_id, Organisation(telephone="+46 40 123"))
    updated = await client.get_organisation(org_id)
    assert (updated.name, updated.city, updated.telephone) == ("Acme AB", "Malmö", "+46 40 123")
    assert updated.extra_custom(8) == "C-1"


@pytest.mark.parametrize("answer", ["dto", "int", "empty"])
async def test_create_organisation_whatever_the_post_answers(
    emulator: Harness, client: WebcrmClient, answer: str
) -> None:
    await emulator.settings(organisation_post_response=answer, unique_fields=[UNIQUE])
    await client.create_organisation(
        Organisation(name="Other", OrganisationExtraCustom8="C-0"), unique_field=UNIQUE
    )
    org_id = await client.create_organisation(
        Organisation(name="Acme", OrganisationExtraCustom8="C-2"), unique_field=UNIQUE
    )
    assert (await client.get_organisation(org_id)).name == "Acme"


async def test_lost_create_answer_finds_the_record_instead_of_duplicating_it(
    emulator: Harness, client: WebcrmClient
) -> None:
    await emulator.settings(unique_fields=[UNIQUE])
    await client.get_organisation(await client.create_organisation(Organisation(name="warm")))
    await emulator.faults(drop_after_rate=1.0)

    async def lose_only_the_post(request: httpx.Request) -> None:
        if request.method != "POST":
            await emulator.faults()

    emulator.http.event_hooks["request"].append(lose_only_the_post)
    org_id = await client.create_organisation(
        Organisation(name="Acme", OrganisationExtraCustom8="C-3"), unique_field=UNIQUE
    )
    emulator.http.event_hooks["request"].clear()
    assert (await client.get_organisation(org_id)).name == "Acme"
    assert len(await client.find_organisations(UNIQUE, "C-3")) == 1
    assert await emulator.count("POST", "/Organisations") == 2  # "warm" and the lost one


async def test_find_organisations_matches_hostile_values_literally(client: WebcrmClient) -> None:
    obrien = await client.create_organisation({"OrganisationName": "O'Brien -- OR 1=1"})
    await client.create_organisation({"OrganisationName": "Plain"})
    found = await client.find_organisations("OrganisationName", "o'brien -- or 1=1")
    assert [o.id for o in found] == [obrien]
    assert await client.find_organisations("OrganisationName", "x' OR '1'='1") == []


async def test_organisations_are_paged_until_empty(emulator: Harness) -> None:
    client = emulator.client(page_size=2)
    ids = [await client.create_organisation({"OrganisationName": f"Org {n}"}) for n in range(5)]
    assert [o.id async for o in client.organisations()] == ids
    assert await emulator.count("GET", "/Organisations") == 4  # pages of 2, 2, 1, then []


async def test_organisations_updated_between(emulator: Harness, client: WebcrmClient) -> None:
    early = await client.create_organisation({"OrganisationName": "Early"})
    emulator.clock.advance(3600)
    middle = emulator.clock.now()
    late = await client.create_organisation({"OrganisationName": "Late"})
    emulator.clock.advance(60)
    found = client.organisations_updated_between(middle, emulator.clock.now())
    assert [o.id async for o in found] == [late]
    assert early != late


async def test_a_refused_write_explains_the_field_and_changes_nothing(
    client: WebcrmClient,
) -> None:
    org_id = await client.create_organisation({"OrganisationName": "Acme"})
    with pytest.raises(ValidationError) as caught:
        await client.update_organisation(org_id, {"OrganisationName": "x" * 201})
    assert caught.value.field == "OrganisationName"
    assert "longer than webCRM allows" in caught.value.explanation
    assert caught.value.vendor_message and caught.value.body
    assert (await client.get_organisation(org_id)).name == "Acme"


async def test_missing_records_are_not_found(client: WebcrmClient) -> None:
    with pytest.raises(NotFound):
        await client.get_organisation(987654)


# -- changed_since --------------------------------------------------------------------------------


async def test_changed_since_with_overlap(emulator: Harness) -> None:
    client = emulator.client(page_size=2)
    old = await client.create_organisation({"OrganisationName": "Old"})
    emulator.clock.advance(600)
    recent = await client.create_organisation({"OrganisationName": "Recent"})
    emulator.clock.advance(120)
    cursor = emulator.clock.now()
    emulator.clock.advance(60)
    new = [await client.create_organisation({"OrganisationName": f"New {n}"}) for n in range(3)]
    emulator.clock.advance(60)
    await client.update_organisation(old, {"OrganisationCity": "Lund"})

    found = [o.id async for o in client.changed_since("Organisation", cursor)]
    # Recent was saved 2 minutes before the cursor: inside the 5-minute overlap. Old was
    # saved 12 minutes before, but its update comes last, in update order.
    assert found == [recent, *new, old]
    tight = client.changed_since("Organisation", cursor, overlap=timedelta(0))
    assert [o.id async for o in tight] == [*new, old]


async def test_newest_rows_come_newest_first_from_the_given_time_on(emulator: Harness) -> None:
    client = emulator.client()
    first = await client.create_organisation({"OrganisationName": "First"})
    emulator.clock.advance(60)
    since = emulator.clock.now()
    emulator.clock.advance(1)  # webCRM keeps whole seconds
    second = await client.create_organisation({"OrganisationName": "Second"})
    emulator.clock.advance(60)
    third = await client.create_organisation({"OrganisationName": "Third"})

    rows = await client.newest(ORGANISATION, since, size=20)
    every = await client.newest(ORGANISATION, None, size=2)

    assert [row["OrganisationId"] for row in rows] == [third, second]
    assert [row["OrganisationId"] for row in every] == [third, second]
    assert first not in [row["OrganisationId"] for row in every]


async def test_a_refused_line_table_is_not_asked_for_again(emulator: Harness) -> None:
    await emulator.settings(quotation_line_queries=False)
    client = emulator.client()
    assert client.lists(QUOTATION_LINE) and client.lists(ORGANISATION)

    with pytest.raises(ValidationError):
        await client.newest(QUOTATION_LINE, None, size=20)

    assert not client.lists(QUOTATION_LINE)
    assert client.lists(ORGANISATION)
    # A refusal of a table every system lists is an error like any other, not a "cannot".
    with pytest.raises(ValidationError):
        await client.newest(ORGANISATION, None, size=0)
    assert client.lists(ORGANISATION)


async def test_changed_since_deliveries(client: WebcrmClient, emulator: Harness) -> None:
    org_id = await client.create_organisation({"OrganisationName": "Acme"})
    cursor = emulator.clock.now()
    emulator.clock.advance(600)
    delivery_id = await client.create_delivery({"DeliveryOrganisationId": org_id})
    found = [d async for d in client.changed_since(DELIVERY, cursor, overlap=timedelta(0))]
    assert [(type(d), d.id) for d in found] == [(Delivery, delivery_id)]


# -- persons, deliveries, lines -------------------------------------------------------------------


async def test_persons_of_an_organisation(client: WebcrmClient) -> None:
    org_id = await client.create_organisation({"OrganisationName": "Acme"})
    person_id = await client.create_person(
        Person(organisation_id=org_id, first_name="Ann", last_name="Berg", email="ann@acme.se")
    )
    persons = [p async for p in client.persons_of_organisation(org_id)]
    assert [(p.id, p.email, p.organisation_id) for p in persons] == [
        (person_id, "ann@acme.se", org_id)
    ]


async def test_a_person_without_last_name_is_refused(client: WebcrmClient) -> None:
    org_id = await client.create_organisation({"OrganisationName": "Acme"})
    with pytest.raises(ValidationError) as caught:
        await client.create_person(Person(organisation_id=org_id, first_name="Ann"))
    assert caught.value.field == "PersonLastName"


async def test_deliveries_and_their_quotation_lines(client: WebcrmClient) -> None:
    org_id = await client.create_organisation({"OrganisationName": "Acme"})
    delivery_id = await client.create_delivery(
        Delivery(organisation_id=org_id, status="New", number="1001", description="Order")
    )
    await client.update_delivery(delivery_id, Delivery(status="Completed"))
    delivery = await client.get_delivery(delivery_id)
    assert (delivery.status, delivery.number, delivery.description) == (
        "Completed",
        "1001",
        "Order",
    )
    assert [d.id async for d in client.deliveries_of_organisation(org_id)] == [delivery_id]
    assert [d.id async for d in client.deliveries()] == [delivery_id]

    first = await client.create_quotation_line(
        QuotationLine(opportunity_id=delivery_id, organisation_id=org_id, quantity=2, price=100.0)
    )
    second = await client.create_quotation_line(
        QuotationLine(opportunity_id=delivery_id, organisation_id=org_id, quantity=1, price=5.0)
    )
    await client.update_quotation_line(first, QuotationLine(quantity=3))
    await client.delete_quotation_line(second)
    await client.delete_quotation_line(second)  # already gone: still deleted
    lines = [line async for line in client.quotation_lines_of_delivery(delivery_id)]
    assert [(line.id, line.quantity, line.price) for line in lines] == [(first, 3.0, 100.0)]
    with pytest.raises(NotFound):
        await client.delete_quotation_line(second, missing_ok=False)
    assert [line.id async for line in client.quotation_lines()] == [first]


async def test_deliveries_are_read_by_id_in_batches_of_fifty(client: WebcrmClient) -> None:
    org_id = await client.create_organisation({"OrganisationName": "Acme"})
    made = [await client.create_delivery({"DeliveryOrganisationId": org_id}) for _ in range(60)]
    calls = client.stats.calls
    # 99999 stands for an opportunity's id (one sequence for both): it is no delivery
    found = [d.id async for d in client.deliveries_with_ids([*made, 99999, made[0]])]
    assert sorted(found) == made
    assert client.stats.calls - calls <= 4  # two /Queries scripts, each paged until empty


# -- product register, setup, metadata, hooks -----------------------------------------------------


async def test_product_register(client: WebcrmClient) -> None:
    item_id = await client.create_product_register_item(
        {
            "QuotationLineLinkedDataItemData1": "A-100",
            "QuotationLineLinkedDataItemData2": "Steam washer",
            "QuotationLineLinkedDataItemPrice": 10000.0,
        },
        unique_field="QuotationLineLinkedDataItemData1",
    )
    await client.update_product_register_item(item_id, {"QuotationLineLinkedDataItemPrice": 9000})
    item = await client.get_product_register_item(item_id)
    assert (item.data(1), item.data(2), item.data(3), item.price) == (
        "A-100",
        "Steam washer",
        None,
        9000.0,
    )
    assert item_id in [i.id for i in await client.product_register()]
    found = await client.find_product_register_items("QuotationLineLinkedDataItemData1", "a-100")
    assert [i.id for i in found] == [item_id]


async def test_linked_setup_and_fields_metadata(client: WebcrmClient) -> None:
    setup = await client.quotation_line_setup()
    assert setup.id and any(setup.uses_data(n) for n in range(1, 10))
    fields = await client.fields_metadata("Organisation")
    by_name = {f.friendly_field_name: f for f in fields}
    assert by_name["OrganisationType"].dropdown_list_data
    with pytest.raises(ValueError):
        await client.fields_metadata("Organisation/../Persons")


async def test_hooks(client: WebcrmClient) -> None:
    hook_id = await client.create_hook(
        "Organisations", Hook(target_url="https://sync.example/hook", event_type="Update")
    )
    hooks = [h async for h in client.hooks("Organisations")]
    assert [(h.id, h.target_url, h.event_type) for h in hooks] == [
        (hook_id, "https://sync.example/hook", "Update")
    ]
    await client.delete_hook("Organisations", hook_id)
    assert [h async for h in client.hooks("Organisations")] == []


async def test_every_demo_record_reads_into_the_models(
    webcrm_demo_app: FastAPI, webcrm_clock: EmulatorClock
) -> None:
    harness = Harness(webcrm_demo_app, webcrm_clock)
    client = harness.client()
    organisations = [o async for o in client.organisations()]
    deliveries = [d async for d in client.deliveries()]
    assert organisations and deliveries
    assert all(o.name and o.created_at and o.updated_at for o in organisations)
    persons = [p for o in organisations async for p in client.persons_of_organisation(o.id)]
    lines = [line for d in deliveries async for line in client.quotation_lines_of_delivery(d.id)]
    assert persons and lines and all(p.last_name for p in persons)
    assert all(line.opportunity_id in {d.id for d in deliveries} for line in lines)
    assert all(item.data(1) for item in await client.product_register())
    oldest = min(o.created_at for o in organisations if o.created_at is not None)
    changed = [o.id async for o in client.changed_since("Organisation", oldest)]
    assert sorted(changed) == sorted(o.id for o in organisations)
    await harness.aclose()
