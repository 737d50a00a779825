"""--data FILE: companies, records, numbering, tokens and feed offsets survive a restart."""

from __future__ import annotations

from pathlib import Path

from tests.fortnox.fixtures.emulator import access_token, client_for

from webcrm_fortnox.fortnox.emulator import create_app


async def test_state_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "fortnox.db"
    first = create_app(data=data, seed="empty")
    token = access_token(first)
    async with client_for(first, token) as api:
        await api.post("/3/customers", json={"Customer": {"Name": "Kvar AB"}})
        await api.post("/3/customers", json={"Customer": {"Name": "Borta AB"}})
        await api.delete("/3/customers/2")
        await api.post("/_emulator/tenants", json={"tenant_id": 5})
    first.state.kit.storage.close()

    second = create_app(data=data, seed="demo")  # the stored company is not seeded again
    async with client_for(second, token) as api:
        listed = (await api.get("/3/customers")).json()["Customers"]
        assert [c["Name"] for c in listed] == ["Kvar AB"]
        again = await api.post("/3/customers", json={"Customer": {"Name": "Ny AB"}})
        assert again.json()["Customer"]["CustomerNumber"] == "3"  # 2 stays burned
    assert second.state.fortnox.tenant(5) is not None
    events = second.state.fortnox.events.since(1, "customers", 1)
    assert [e["type"] for e in events] == [
        "customer-created-v1",
        "customer-created-v1",
        "customer-deleted-v1",
        "customer-created-v1",
    ]
    assert [e["offset"] for e in events] == ["1", "2", "3", "4"]
