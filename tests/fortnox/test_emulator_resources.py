"""Customers, articles, prices and the registers: envelopes, numbering, merges and deletes."""

from __future__ import annotations

import httpx

from webcrm_fortnox.fortnox.emulator import FortnoxEmulator


async def _customer(api: httpx.AsyncClient, **values: object) -> dict[str, object]:
    response = await api.post("/3/customers", json={"Customer": {"Name": "Kund AB", **values}})
    assert response.status_code == 201, response.text
    customer: dict[str, object] = response.json()["Customer"]
    return customer


async def test_create_answers_201_with_the_bare_location_word(api: httpx.AsyncClient) -> None:
    response = await api.post("/3/customers", json={"Customer": {"Name": "Kund AB"}})
    assert response.status_code == 201
    assert response.headers["location"] == "customers"
    terms = await api.post(
        "/3/termsofpayments", json={"TermsOfPayment": {"Code": "45", "Description": "45 dagar"}}
    )
    assert terms.headers["location"] == "paymentterms"


async def test_numbers_are_sequential_strings_skipping_chosen_ones(api: httpx.AsyncClient) -> None:
    await _customer(api, CustomerNumber="2")
    numbers = [(await _customer(api))["CustomerNumber"] for _ in range(3)]
    assert numbers == ["1", "3", "4"]
    article = await api.post("/3/articles", json={"Article": {"Description": "Hammare"}})
    assert article.json()["Article"]["ArticleNumber"] == "1"


async def test_a_deleted_customer_number_is_never_reused(api: httpx.AsyncClient) -> None:
    number = (await _customer(api))["CustomerNumber"]
    deleted = await api.delete(f"/3/customers/{number}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = await api.get(f"/3/customers/{number}")
    assert gone.status_code == 404
    assert gone.json() == {
        "ErrorInformation": {"Error": 1, "Message": "Kan inte hitta kunden.", "Code": 2000433}
    }
    reuse = await api.post(
        "/3/customers", json={"Customer": {"Name": "Ny", "CustomerNumber": number}}
    )
    assert reuse.status_code == 400
    assert reuse.json()["ErrorInformation"]["code"] == 2000637
    assert (await _customer(api))["CustomerNumber"] == "2"


async def test_put_merges_ignores_empty_strings_and_api_blank_clears(
    api: httpx.AsyncClient,
) -> None:
    number = (await _customer(api, City="Lund", Comments="VIP", Phone1="046-123"))["CustomerNumber"]
    response = await api.put(
        f"/3/customers/{number}",
        json={"Customer": {"City": "", "Comments": "API_BLANK", "Phone1": "046-999"}},
    )
    assert response.status_code == 200
    customer = response.json()["Customer"]
    assert customer["City"] == "Lund"
    assert customer["Comments"] is None
    assert customer["Phone1"] == "046-999"
    assert customer["Name"] == "Kund AB"


async def test_read_only_fields_are_ignored_on_input(api: httpx.AsyncClient) -> None:
    customer = await _customer(api, Country="Norge", CountryCode="SE")
    # recorded: customers/save_new_with_country_code_SE.yml
    assert customer["Country"] == "Sverige"
    article = await api.post(
        "/3/articles", json={"Article": {"Description": "Såg", "SalesPrice": 99, "StockValue": 5}}
    )
    assert article.json()["Article"]["SalesPrice"] is None
    assert article.json()["Article"]["StockValue"] == 0


async def test_lists_send_numbers_as_strings_and_customers_ten_fields(
    api: httpx.AsyncClient,
) -> None:
    await _customer(api, Phone1="08-123")
    await api.post(
        "/3/articles", json={"Article": {"Description": "Hammare", "QuantityInStock": 3}}
    )
    customers = (await api.get("/3/customers")).json()
    assert list(customers["Customers"][0]) == [
        "@url", "Address1", "Address2", "City", "CustomerNumber", "Email", "Name",
        "OrganisationNumber", "Phone", "ZipCode",
    ]  # fmt: skip
    assert customers["Customers"][0]["Phone"] == "08-123"
    assert customers["Customers"][0]["Address1"] == ""
    item = (await api.get("/3/articles")).json()["Articles"][0]
    assert item["QuantityInStock"] == "3"
    assert item["PurchasePrice"] == "0"
    full = (await api.get("/3/articles/1")).json()["Article"]
    assert full["QuantityInStock"] == 3


async def test_quantity_in_stock_is_rounded_half_up(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "/3/articles", json={"Article": {"Description": "Spik", "QuantityInStock": 1.125}}
    )
    assert created.json()["Article"]["QuantityInStock"] == 1.13


async def test_prices_set_the_articles_sales_price(api: httpx.AsyncClient) -> None:
    await api.post("/3/articles", json={"Article": {"Description": "Hammare"}})
    created = await api.post(
        "/3/prices",
        json={"Price": {"ArticleNumber": "1", "PriceList": "A", "FromQuantity": 0, "Price": 99.5}},
    )
    assert created.status_code == 201
    assert created.json()["Price"]["Price"] == 99.5
    assert (await api.get("/3/articles/1")).json()["Article"]["SalesPrice"] == 99.5
    updated = await api.put("/3/prices/A/1", json={"Price": {"Price": 120}})
    assert updated.json()["Price"]["Price"] == 120
    sublist = (await api.get("/3/prices/sublist/A/1")).json()
    assert [p["Price"] for p in sublist["Prices"]] == [120]
    assert (await api.delete("/3/prices/A/1/0")).status_code == 204
    assert (await api.get("/3/articles/1")).json()["Article"]["SalesPrice"] is None
    missing = await api.post("/3/prices", json={"Price": {"ArticleNumber": "9", "Price": 1}})
    assert missing.json()["ErrorInformation"]["code"] == 2001302


async def test_registers_and_company_information(
    api: httpx.AsyncClient, fortnox_emulator: FortnoxEmulator
) -> None:
    units = (await api.get("/3/units")).json()
    assert {u["Code"] for u in units["Units"]} >= {"st", "h", "förp"}
    # recorded: units/all.yml — codes are URL-encoded in @url
    förp = next(u for u in units["Units"] if u["Code"] == "förp")
    assert förp["@url"].endswith("/3/units/f%C3%B6rp")
    assert (await api.get("/3/units/f%C3%B6rp")).json()["Unit"]["Description"] == "förpackning"
    terms = (await api.get("/3/termsofpayments/30")).json()
    assert terms == {
        "TermsOfPayment": {
            "@url": "https://api.fortnox.test/3/termsofpayments/30",
            "Code": "30",
            "Description": "30 dagar",
        }
    }
    currencies = (await api.get("/3/currencies")).json()["Currencies"]
    assert "EUR" in {c["Code"] for c in currencies}
    lists = (await api.get("/3/pricelists")).json()["PriceLists"]
    assert [p["Code"] for p in lists] == ["A"]
    info = (await api.get("/3/companyinformation")).json()["CompanyInformation"]
    assert info["DatabaseNumber"] == fortnox_emulator.default_tenant_id
    missing_unit = await api.get("/3/units/nope")
    assert missing_unit.json()["ErrorInformation"]["Code"] == 2000432


async def test_responses_escape_slashes_and_non_ascii_like_fortnox(api: httpx.AsyncClient) -> None:
    await _customer(api, City="Malmö")
    raw = (await api.get("/3/customers/1")).text
    assert "Malm\\u00f6" in raw
    assert "https:\\/\\/api.fortnox.test\\/3\\/customers\\/1" in raw
