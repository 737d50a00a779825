"""The WebSocket change feed at /topics-v1: commands, live events, replay, duplicates."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.fortnox.fixtures.emulator import CLIENT_SECRET, access_token, bearer

from webcrm_fortnox.emulation import EmulatorClock, Storage
from webcrm_fortnox.fortnox.emulator.topics import EventLog


def _subscribe(ws: Any, tokens: list[str], topics: list[dict[str, str]]) -> dict[str, Any]:
    ws.send_json(
        {"command": "add-tenants-v1", "clientSecret": CLIENT_SECRET, "accessTokens": tokens}
    )
    tenants: dict[str, Any] = ws.receive_json()
    ws.send_json({"command": "add-topics-v1", "topics": topics})
    assert ws.receive_json() == {"response": "add-topics-v1", "result": "ok", "invalidTopics": []}
    ws.send_json({"command": "subscribe-v1"})
    assert ws.receive_json() == {"response": "subscribe-v1", "result": "ok"}
    return tenants


def test_events_for_writes_with_increasing_offsets(fortnox_app: FastAPI) -> None:
    token = access_token(fortnox_app)
    with TestClient(fortnox_app) as http, http.websocket_connect("/topics-v1") as ws:
        tenants = _subscribe(ws, [token, "bogus"], [{"topic": "customers"}, {"topic": "invoices"}])
        assert tenants == {
            "response": "add-tenants-v1",
            "result": "ok",
            "tenantIds": {token: 1},
            "invalidTokens": ["bogus"],
        }
        headers = bearer(token)
        http.post("/3/customers", json={"Customer": {"Name": "A"}}, headers=headers)
        http.put("/3/customers/1", json={"Customer": {"City": "Lund"}}, headers=headers)
        http.post("/3/invoices", json={"Invoice": {"CustomerNumber": "1"}}, headers=headers)
        http.put("/3/invoices/1/bookkeep", headers=headers)
        events = [ws.receive_json() for _ in range(4)]
    assert [(e["topic"], e["type"], e["entityId"]) for e in events] == [
        ("customers", "customer-created-v1", "1"),
        ("customers", "customer-updated-v2", "1"),
        ("invoices", "invoice-created-v1", "1"),
        ("invoices", "invoice-bookkeep-v1", "1"),
    ]
    assert [e["offset"] for e in events] == ["1", "2", "1", "2"]  # per topic
    assert all(e["tenantId"] == 1 for e in events)
    assert events[0]["timestamp"][-6:] in ("+01:00", "+02:00")


def test_replay_from_an_offset_then_live(fortnox_app: FastAPI) -> None:
    token = access_token(fortnox_app)
    with TestClient(fortnox_app) as http:
        for name in ("A", "B", "C"):
            http.post("/3/customers", json={"Customer": {"Name": name}}, headers=bearer(token))
        with http.websocket_connect("/topics-v1") as ws:
            _subscribe(ws, [token], [{"topic": "customers", "offset": "2"}])
            replayed = [ws.receive_json()["offset"] for _ in range(2)]
            http.post("/3/customers", json={"Customer": {"Name": "D"}}, headers=bearer(token))
            live = ws.receive_json()
    assert replayed == ["2", "3"]
    assert (live["offset"], live["entityId"]) == ("4", "4")


def test_duplicate_events_fault_and_removing_a_tenant(fortnox_app: FastAPI) -> None:
    token = access_token(fortnox_app)
    with TestClient(fortnox_app) as http:
        http.put("/_emulator/faults", json={"duplicate_events_rate": 1.0})
        with http.websocket_connect("/topics-v1") as ws:
            _subscribe(ws, [token], [{"topic": "articles"}])
            http.post("/3/articles", json={"Article": {"Description": "X"}}, headers=bearer(token))
            first, second = ws.receive_json(), ws.receive_json()
            assert first == second
            ws.send_json({"command": "remove-tenants-v1", "tenants": [1]})
            assert ws.receive_json() == {"response": "remove-tenants-v1", "result": "ok"}
            http.post("/3/articles", json={"Article": {"Description": "Y"}}, headers=bearer(token))
            ws.send_json({"command": "nonsense"})
            # the next frame is the answer to the command: no event for a removed tenant
            assert ws.receive_json()["result"] == "error"


def test_unknown_topic_is_reported(fortnox_app: FastAPI) -> None:
    with TestClient(fortnox_app) as http, http.websocket_connect("/topics-v1") as ws:
        ws.send_json({"command": "add-topics-v1", "topics": [{"topic": "spaceships"}]})
        assert ws.receive_json()["invalidTopics"] == ["spaceships"]


def test_offsets_are_unique_within_a_topic_across_tenants() -> None:
    """One stored offset per topic must replay every tenant of a connection correctly."""
    log = EventLog(Storage(), EmulatorClock())
    first = log.publish(1, "customers", "customer-created-v1", "1")
    second = log.publish(2, "customers", "customer-created-v1", "1")
    third = log.publish(1, "customers", "customer-updated-v2", "1")
    offsets = [int(e["offset"]) for e in (first, second, third)]
    assert offsets == sorted(set(offsets))
    resume = int(second["offset"])
    assert [e["offset"] for e in log.since(1, "customers", resume)] == [third["offset"]]
    assert [e["offset"] for e in log.since(2, "customers", resume)] == [second["offset"]]
