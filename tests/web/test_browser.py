"""The administrator's page in a real browser, against both emulators and a running ``run``.

One world for the module, set up as a company would meet it: both emulators as processes,
a configuration with an operator, ``match`` (which stores its proposals) and a first ``sync
--once`` (one organisation refused for terms Fortnox does not know, two organisations ambiguous
with one customer), a phone number changed on both sides, then ``run`` and ``admin`` started.
Each test drives Chromium as a person would and checks both systems through their APIs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.harness import tenant, write_tenant_config
from tests.support.servers import cli_server
from tests.web.browser import (
    FLAGS,
    SCREENSHOTS,
    Emulator,
    chromium_or_skip,
    fortnox_api,
    process,
    until,
    webcrm_api,
    webcrm_fortnox,
)
from webcrm_fortnox.config import Config, write_config
from webcrm_fortnox.web.security import hash_password
from webcrm_fortnox.webcrm.emulator.state import DEFAULT_API_TOKEN

pytestmark = pytest.mark.e2e
# what a person waits for here takes a sync or two of the running service
expect.set_options(timeout=30_000)

PASSWORD = "a long passphrase for anna"
ORGANISATION_NUMBER = "556036-0793"


@dataclass
class World:
    """The running product: the page's address, both emulators' APIs, the config file."""

    url: str
    fortnox: Emulator
    webcrm: Emulator
    config: Path
    conflict_organisation: int
    conflict_customer: str


def _seed(fortnox: Emulator, webcrm: Emulator) -> int:
    """The records of the story; returns the webCRM id of the organisation that conflicts."""

    def organisation(**values: object) -> int:
        body = {"OrganisationType": "Customer", **values}
        return int(webcrm.call("POST", "/Organisations", json=body)["OrganisationId"])

    konflikt = organisation(OrganisationName="Konflikt AB", OrganisationTelephone="08-100 00 00")
    # terms Fortnox's register does not have yet: the customer is refused until it does
    organisation(OrganisationName="Villkor AB", OrganisationCustom5="K45")
    for name in ("Dubbel AB", "Dubbel AB (gamla)"):
        organisation(OrganisationName=name, OrganisationExtraCustom2=ORGANISATION_NUMBER)
    fortnox.call(
        "POST",
        "/3/customers",
        json={"Customer": {"Name": "Dubbel AB", "OrganisationNumber": ORGANISATION_NUMBER}},
    )
    return konflikt


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    chromium_or_skip()
    folder = tmp_path_factory.mktemp("admin-browser")
    with (
        cli_server("emulate", "fortnox", "--seed", "empty", "--no-rate-limit") as fortnox_url,
        cli_server("emulate", "webcrm", "--seed", "empty", "--no-rate-limit") as webcrm_url,
    ):
        shop = tenant(
            name="shop",
            webcrm_poll_seconds=1,
            webcrm={"base_url": webcrm_url, "api_token": DEFAULT_API_TOKEN},
            fortnox={
                "base_url": fortnox_url,
                "auth_url": fortnox_url,
                "ws_url": fortnox_url.replace("http", "ws") + "/topics-v1",
            },
            field_policy={"phone": {"conflict": "manual"}},
        )
        # a second company (its webCRM token is wrong), for the fleet to be filtered
        other = tenant(
            name="other",
            webcrm={"base_url": webcrm_url, "api_token": "00000000-0000-4000-8000-00000000dead"},
            fortnox={
                "base_url": fortnox_url,
                "auth_url": fortnox_url,
                "ws_url": fortnox_url.replace("http", "ws") + "/topics-v1",
            },
        )
        config = write_tenant_config(
            folder / "webcrm-fortnox.toml", "sqlite:///state.db", shop, other
        )
        with_admin = Config.model_validate(
            {
                "state": {"url": "sqlite:///state.db"},
                "tenant": [shop.model_dump(), other.model_dump()],
                "admin": {"user": [{"name": "anna", "password_hash": hash_password(PASSWORD)}]},
            }
        )
        write_config(config, with_admin)
        fortnox = fortnox_api(fortnox_url, "emulator", "emulator-secret", 1)
        webcrm = webcrm_api(webcrm_url, DEFAULT_API_TOKEN)
        try:
            yield from _running(config, fortnox, webcrm)
        finally:
            fortnox.close()
            webcrm.close()


def _running(config: Path, fortnox: Emulator, webcrm: Emulator) -> Iterator[World]:
    konflikt = _seed(fortnox, webcrm)
    webcrm_fortnox("--config", str(config), "match", "--json", "--tenant", "shop")
    webcrm_fortnox("--config", str(config), "sync", "--once", "--tenant", "shop")
    pair = fortnox.call("GET", "/3/customers", params={"name": "Konflikt AB"})["Customers"][0]
    # a sales person and an accountant change the phone before the service next looks
    webcrm.call("PUT", f"/Organisations/{konflikt}", json={"OrganisationTelephone": "08-111 11 11"})
    number = pair["CustomerNumber"]
    fortnox.call("PUT", f"/3/customers/{number}", json={"Customer": {"Phone1": "08-222 22 22"}})
    run_args = ["--config", str(config), "run", "--metrics-port", "0", "--registry-poll", "1"]
    with (
        process(*run_args) as runner,
        process("--config", str(config), "admin", "--port", "0") as admin,
    ):
        until(lambda: "Administrator's page on" in admin.text(), "admin listening")
        url = admin.text().split(" on ", 1)[1].split()[0].rstrip("/")
        yield World(url, fortnox, webcrm, config, konflikt, number)
        assert runner.proc.poll() is None, runner.text()


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(chromium_or_skip()), args=FLAGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(world: World, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{world.url}/fleet")
    page.fill("input[name=name]", "anna")
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(f"{world.url}/fleet")
    yield page
    context.close()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_sign_in_and_filter_the_fleet(world: World, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 700})
    page = context.new_page()
    page.goto(f"{world.url}/tenants/shop")
    expect(page).to_have_url(f"{world.url}/login")
    _shot(page, "login")
    page.fill("input[name=name]", "anna")
    page.fill("input[name=password]", "not the password")
    page.locator("form button[type=submit]").first.click()
    expect(page.get_by_role("alert")).to_have_text("Not signed in.")
    page.fill("input[name=name]", "anna")
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").first.click()

    rows = page.locator("#fleet-rows tbody tr")
    expect(rows).to_have_count(2)
    page.fill("#name-filter", "OTH")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("other")
    page.fill("#name-filter", "")
    page.select_option("select[name=health]", "ok")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("shop")
    page.select_option("select[name=health]", "")
    page.select_option("select[name=errors]", "yes")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("shop")
    page.select_option("select[name=errors]", "")
    expect(rows).to_have_count(2)
    _shot(page, "fleet")
    page.get_by_role("link", name="shop").click()
    expect(page.locator("h1")).to_contain_text("shop")
    expect(page.locator("#conflicts tr", has_text="phone")).to_contain_text("08-222 22 22")
    for chart in page.locator("section.charts img").all():
        expect(chart).to_have_js_property("complete", True)
        assert chart.evaluate("image => image.naturalWidth") > 0
    _shot(page, "tenant")
    context.close()


def test_retry_an_error_and_see_it_clear(world: World, page: Page) -> None:
    page.goto(f"{world.url}/tenants/shop")
    error = page.locator("#errors tr", has_text="Villkor AB")
    expect(error).to_have_count(1)
    # the accountant adds the terms to Fortnox's register; nothing about the customer changed
    world.fortnox.call(
        "POST",
        "/3/termsofpayments",
        json={"TermsOfPayment": {"Code": "K45", "Description": "45 dagar"}},
    )

    error.get_by_role("button", name="Retry").click()

    expect(page.locator("#requests tr", has_text="retry")).to_contain_text("done")
    expect(page.locator("#errors tr", has_text="Villkor AB")).to_have_count(0)
    created = world.fortnox.call("GET", "/3/customers", params={"name": "Villkor AB"})
    assert [c["Name"] for c in created["Customers"]] == ["Villkor AB"]


def test_take_a_side_in_a_conflict_and_see_both_systems_agree(world: World, page: Page) -> None:
    page.goto(f"{world.url}/tenants/shop")
    conflict = page.locator("#conflicts tr", has_text="phone")
    expect(conflict).to_contain_text("08-111 11 11")
    expect(conflict).to_contain_text("08-222 22 22")

    conflict.get_by_role("button", name="Take webCRM").click()

    expect(page.locator("#requests tr", has_text="take")).to_contain_text("done")
    expect(page.locator("#conflicts tr", has_text="phone")).to_have_count(0)
    customer = world.fortnox.call("GET", f"/3/customers/{world.conflict_customer}")["Customer"]
    organisation = world.webcrm.call("GET", f"/Organisations/{world.conflict_organisation}")
    assert customer["Phone1"] == organisation["OrganisationTelephone"] == "08-111 11 11"


def test_choose_a_match_and_watch_the_import_finish(world: World, page: Page) -> None:
    page.goto(f"{world.url}/tenants/shop")
    candidates = page.locator("#matches tr", has_text="one of several candidates")
    expect(candidates).to_have_count(2)
    chosen = page.locator("#matches tr", has_text="Dubbel AB (gamla)")
    chosen.get_by_role("button", name="Choose this one").click()
    expect(page.locator("#requests tr", has_text="choose")).to_contain_text("done")

    page.get_by_role("button", name="Start the import").click()

    expect(page.locator("#requests tr", has_text="import")).to_contain_text("done")
    expect(page.locator("#matches tr", has_text="Dubbel AB (gamla)")).to_contain_text("chosen")
    _shot(page, "tenant-after-import")
    number = world.fortnox.call("GET", "/3/customers", params={"name": "Dubbel AB"})
    customer_number = number["Customers"][0]["CustomerNumber"]
    found = world.webcrm.call("GET", "/Organisations", params={"Page": 1, "Size": 100})
    linked = [
        o["OrganisationName"] for o in found if o.get("OrganisationExtraCustom1") == customer_number
    ]
    assert linked == ["Dubbel AB (gamla)"]


def test_screenshots_are_where_the_readme_says() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert (
        "build/screenshots/" in readme
        and os.sep.join(SCREENSHOTS.parts[-2:]) == "build/screenshots"
    )
