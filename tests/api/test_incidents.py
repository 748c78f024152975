"""Incidents, their alerts and acknowledging them; dead alerts and retrying them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.alerts.scenarios import dead_alert, make_channel, make_monitor, result
from uptrack.store.base import Store


def _down(store: Store, name: str = "web", **fields: Any) -> str:
    """A monitor that went down (on a tagged webhook channel); its id."""
    monitor = make_monitor(store, name, tags=["t"], **fields)
    store.record_results([result(monitor, 1), result(monitor, 2, ok=False)])
    return monitor.id


async def test_incidents_are_listed_with_cause_and_state_and_filtered(
    client: httpx.AsyncClient, read_auth: dict[str, str], store: Store
) -> None:
    make_channel(store, tags=["t"])
    web = _down(store, "web")
    monitor = store.get_monitor(web)
    store.record_results([result(monitor, 3)])
    db = _down(store, "db")

    response = await client.get("/api/v1/incidents", headers=read_auth)

    assert response.status_code == 200
    items = response.json()["items"]
    assert {i["monitor_name"]: i["state"] for i in items} == {"web": "closed", "db": "open"}
    closed = next(i for i in items if i["state"] == "closed")
    assert closed["cause"] == {
        "error_kind": "status",
        "error": "status 503 not in 200-399 (slot 2)",
        "http_status": 503,
    }
    assert closed["duration_seconds"] == 60.0
    assert closed["started_at"].endswith("Z")
    opened = await client.get("/api/v1/incidents?state=open", headers=read_auth)
    assert [i["monitor_id"] for i in opened.json()["items"]] == [db]
    mine = await client.get(f"/api/v1/incidents?monitor={web}", headers=read_auth)
    assert [i["monitor_id"] for i in mine.json()["items"]] == [web]
    since = await client.get("/api/v1/incidents?since=2030-01-01T00:00:00Z", headers=read_auth)
    assert [i["monitor_id"] for i in since.json()["items"]] == [db]
    paged = await client.get("/api/v1/incidents?limit=1", headers=read_auth)
    rest = await client.get(
        f"/api/v1/incidents?limit=1&cursor={paged.json()['next']}", headers=read_auth
    )
    assert paged.json()["items"] + rest.json()["items"] == items


async def test_bad_incident_queries_are_400_and_unknown_ones_404(
    client: httpx.AsyncClient, read_auth: dict[str, str]
) -> None:
    for query in ("state=gone", "since=yesterday", "limit=0", "cursor=zz!"):
        response = await client.get(f"/api/v1/incidents?{query}", headers=read_auth)
        assert response.status_code == 400, query
    assert (await client.get("/api/v1/incidents?monitor=x", headers=read_auth)).status_code == 404
    assert (await client.get("/api/v1/incidents/x", headers=read_auth)).status_code == 404
    assert (await client.get("/api/v1/alerts?status=lost", headers=read_auth)).status_code == 400


async def test_an_incident_shows_its_alerts_and_acknowledging_it_records_who(
    client: httpx.AsyncClient,
    write_auth: dict[str, str],
    read_auth: dict[str, str],
    store: Store,
) -> None:
    channel = make_channel(store, tags=["t"])
    _down(store, remind_every=600.0)
    (incident,) = store.list_incidents().items

    detail = (await client.get(f"/api/v1/incidents/{incident.id}", headers=read_auth)).json()
    (alert,) = detail["alerts"]
    assert (alert["channel_id"], alert["transition"], alert["status"]) == (
        channel.id,
        "down",
        "pending",
    )
    assert alert["dedup_key"] == f"uptrack-{incident.id}-down-{channel.id}"

    acked = await client.post(f"/api/v1/incidents/{incident.id}/ack", headers=write_auth)
    assert acked.status_code == 200
    assert acked.json()["acknowledged_by"].startswith("token:write token")
    assert acked.json()["acknowledged_at"] == "2024-05-01T12:00:00.000Z"
    assert store.schedule_reminders(now=incident.confirmed_at + 6000) == 0
    assert (await client.post("/api/v1/incidents/x/ack", headers=write_auth)).status_code == 404


async def test_dead_alerts_are_listed_and_can_be_sent_again(
    client: httpx.AsyncClient,
    write_auth: dict[str, str],
    read_auth: dict[str, str],
    store: Store,
    clock: Any,
) -> None:
    _, _, alert_id = dead_alert(store, clock())

    dead = await client.get("/api/v1/alerts?status=dead", headers=read_auth)
    (row,) = dead.json()["items"]
    assert (row["id"], row["status"], row["last_error"]) == (alert_id, "dead", "gone")

    retried = await client.post(f"/api/v1/alerts/{alert_id}/retry", headers=write_auth)
    assert retried.status_code == 200
    assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 0)
    again = await client.post(f"/api/v1/alerts/{alert_id}/retry", headers=write_auth)
    assert again.status_code == 409
    assert (await client.post("/api/v1/alerts/99/retry", headers=write_auth)).status_code == 404
    assert (await client.post("/api/v1/alerts/x/retry", headers=write_auth)).status_code == 404
    assert (await client.get("/api/v1/alerts?status=dead", headers=read_auth)).json()["items"] == []
