"""Maintenance windows: CRUD, validation naming fields, and the status they give monitors."""

from __future__ import annotations

from typing import Any

import httpx

from tests.alerts.scenarios import result
from uptrack.store.base import Store

ONE_OFF = {
    "name": "db upgrade",
    "tags": ["db"],
    "starts_at": "2024-05-01T11:00:00Z",
    "ends_at": "2024-05-01T13:00:00Z",
}


def _fields(response: httpx.Response) -> dict[str, str]:
    return {e["field"]: e["message"] for e in response.json()["errors"]}


async def test_a_window_is_created_read_changed_and_deleted(
    client: httpx.AsyncClient, write_auth: dict[str, str], read_auth: dict[str, str]
) -> None:
    created = await client.post("/api/v1/maintenances", headers=write_auth, json=ONE_OFF)
    assert created.status_code == 201, created.text
    doc = created.json()
    assert (doc["starts_at"], doc["ends_at"], doc["active"]) == (
        "2024-05-01T11:00:00.000Z",
        "2024-05-01T13:00:00.000Z",
        True,
    )
    url = created.headers["location"]
    assert (await client.get(url, headers=read_auth)).json() == doc
    listed = (await client.get("/api/v1/maintenances", headers=read_auth)).json()
    assert listed == {"items": [doc], "next": None}

    weekly = {"days": ["sat", "sun"], "start": "02:00", "duration": "3h", "timezone": "UTC"}
    changed = await client.patch(url, headers=write_auth, json={"weekly": weekly, "ends_at": None})
    assert changed.status_code == 200, changed.text
    assert changed.json()["weekly"] == {**weekly, "duration": 10800.0}
    assert changed.json()["active"] is False  # a Wednesday

    cron = {"expression": "0  3 * * *", "duration": "1h", "timezone": "Europe/Berlin"}
    both = await client.patch(url, headers=write_auth, json={"cron": cron})
    assert _fields(both) == {"cron": "give weekly or cron, not both (set the other to null)"}
    changed = await client.patch(url, headers=write_auth, json={"cron": cron, "weekly": None})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["weekly"], changed.json()["cron"]) == (
        None,
        {"expression": "0 3 * * *", "duration": 3600.0, "timezone": "Europe/Berlin"},
    )

    assert (await client.delete(url, headers=write_auth)).status_code == 204
    assert (await client.get(url, headers=read_auth)).status_code == 404
    assert (await client.delete(url, headers=write_auth)).status_code == 404
    assert (await client.patch(url, headers=write_auth, json={})).status_code == 404


async def test_invalid_windows_are_refused_naming_each_field(
    client: httpx.AsyncClient, write_auth: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/maintenances",
        headers=write_auth,
        json={
            "name": "",
            "starts_at": "tomorrow",
            "weekly": {"days": ["someday"], "start": "25:00", "duration": 0, "timezone": "Mars/X"},
        },
    )

    assert response.status_code == 422
    assert set(_fields(response)) == {
        "name",
        "monitors",
        "starts_at",
        "weekly.days",
        "weekly.start",
        "weekly.duration",
        "weekly.timezone",
    }
    bad_cron = await client.post(
        "/api/v1/maintenances",
        headers=write_auth,
        json={
            "name": "x",
            "tags": ["a"],
            "cron": {"expression": "61 * * * *", "duration": "9d", "timezone": 3, "every": 1},
        },
    )
    assert bad_cron.status_code == 422
    errors = _fields(bad_cron)
    assert set(errors) == {"cron.expression", "cron.duration", "cron.timezone", "cron.every"}
    assert errors["cron.expression"].startswith("'61 * * * *': ")
    assert "five fields" in errors["cron.expression"]
    impossible = await client.post(
        "/api/v1/maintenances",
        headers=write_auth,
        json={"name": "x", "tags": ["a"], "cron": {"expression": "0 0 30 2 *", "duration": 60}},
    )
    assert "cron.expression" in _fields(impossible)
    seconds = await client.post(
        "/api/v1/maintenances",
        headers=write_auth,
        json={"name": "x", "tags": ["a"], "cron": {"expression": "0 0 2 * * *", "duration": 60}},
    )
    assert _fields(seconds)["cron.expression"].startswith("'0 0 2 * * *' has 6 fields; five")
    backwards = await client.post(
        "/api/v1/maintenances",
        headers=write_auth,
        json=ONE_OFF | {"ends_at": "2024-05-01T10:00:00Z"},
    )
    assert _fields(backwards) == {"ends_at": "must be after starts_at"}
    open_ended = await client.post(
        "/api/v1/maintenances", headers=write_auth, json={"name": "x", "tags": ["a"]}
    )
    assert "one-off window needs starts_at and ends_at" in _fields(open_ended)["starts_at"]
    unknown = await client.post(
        "/api/v1/maintenances",
        headers=write_auth,
        json=ONE_OFF | {"monitors": ["nope"], "tags": []},
    )
    assert _fields(unknown) == {"monitors[0]": "no monitor has the id 'nope'"}


async def test_a_monitor_in_an_active_window_shows_maintenance(
    client: httpx.AsyncClient,
    write_auth: dict[str, str],
    read_auth: dict[str, str],
    create_monitor: Any,
    store: Store,
) -> None:
    created = await create_monitor("db", tags=["db"])
    await client.post("/api/v1/maintenances", headers=write_auth, json=ONE_OFF)
    monitor = store.get_monitor(created["id"])
    # a failing check due inside the window (11:00 to 13:00)
    store.record_results([result(monitor, -10, ok=False)])

    doc = (await client.get(f"/api/v1/monitors/{monitor.id}", headers=read_auth)).json()

    assert doc["status"] == "maintenance"
    assert doc["last_check"]["ok"] is False
    incidents = (await client.get("/api/v1/incidents", headers=read_auth)).json()
    assert incidents["items"] == []
