"""The monitors resource: create, read, list, partial update, delete, pause, resume."""

from __future__ import annotations

from typing import Any

import httpx

from uptrack.model import Result, Timings
from uptrack.store.base import Store

COMMON_KEYS = {
    "id",
    "name",
    "kind",
    "target",
    "interval",
    "timeout",
    "retries",
    "retry_delay",
    "down_after",
    "up_after",
    "paused",
    "status",
    "shard",
    "version",
    "created_at",
    "updated_at",
    "last_check",
    # alerting (DESIGN §6)
    "tags",
    "channels",
    "remind_every",
}


def _fields(response: httpx.Response) -> dict[str, str]:
    return {e["field"]: e["message"] for e in response.json()["errors"]}


async def test_creating_a_monitor_answers_201_with_its_document_and_location(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: Any
) -> None:
    response = await client.post(
        "/api/v1/monitors", headers=write_auth, json=monitor_body("shop", timeout="5s")
    )
    assert response.status_code == 201
    doc = response.json()
    assert response.headers["location"] == f"/api/v1/monitors/{doc['id']}"
    assert set(doc) == COMMON_KEYS
    assert doc["name"] == "shop"
    assert doc["kind"] == "http"
    assert doc["target"] == "https://example.com/health"
    assert doc["interval"] == 60
    assert doc["timeout"] == 5.0
    assert (doc["retries"], doc["retry_delay"], doc["down_after"], doc["up_after"]) == (
        2,
        3.0,
        1,
        1,
    )
    assert doc["paused"] is False
    assert doc["status"] == "pending"
    assert doc["version"] == 1
    assert doc["created_at"] == doc["updated_at"] == "2024-05-01T12:00:00.000Z"
    assert doc["last_check"] is None
    assert isinstance(doc["shard"], int)


async def test_a_created_monitor_can_be_read_back_by_its_location(
    client: httpx.AsyncClient, create_monitor: Any, read_auth: dict[str, str]
) -> None:
    created = await create_monitor("shop")
    response = await client.get(f"/api/v1/monitors/{created['id']}", headers=read_auth)
    assert response.status_code == 200
    assert response.json() == created


async def test_kind_settings_are_flattened_beside_the_common_fields(
    client: httpx.AsyncClient, create_monitor: Any, read_auth: dict[str, str]
) -> None:
    created = await create_monitor("api", method="HEAD")
    assert created["method"] == "HEAD"
    assert set(created) == COMMON_KEYS | {"method"}
    assert "settings" not in created


async def test_creating_without_the_required_fields_names_each_of_them(
    client: httpx.AsyncClient, write_auth: dict[str, str]
) -> None:
    response = await client.post("/api/v1/monitors", headers=write_auth, json={})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:uptrack:problem:invalid-input"
    assert body["title"] == "Unprocessable Content"
    assert {"name", "kind", "target", "interval"} <= set(_fields(response))
    assert all(e["message"] for e in body["errors"])


async def test_creating_with_bad_values_names_every_bad_field_and_what_is_accepted(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: Any
) -> None:
    body = monitor_body(interval=2, retries=-1, kind="http", target="ftp://example.com/")
    response = await client.post("/api/v1/monitors", headers=write_auth, json=body)
    assert response.status_code == 422
    fields = _fields(response)
    assert set(fields) == {"interval", "retries", "target"}
    assert "minimum of 5 seconds" in fields["interval"]
    assert "0 to 10" in fields["retries"]


async def test_an_unknown_kind_is_refused_naming_the_known_kinds(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: Any
) -> None:
    response = await client.post(
        "/api/v1/monitors", headers=write_auth, json=monitor_body(kind="smtp")
    )
    assert response.status_code == 422
    message = _fields(response)["kind"]
    assert "http" in message
    assert "tcp" in message


async def test_read_only_fields_cannot_be_set(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: Any
) -> None:
    response = await client.post(
        "/api/v1/monitors", headers=write_auth, json=monitor_body(id="mine", status="up")
    )
    assert response.status_code == 422
    assert set(_fields(response)) == {"id", "status"}


async def test_a_taken_name_answers_409(
    client: httpx.AsyncClient, create_monitor: Any, write_auth: dict[str, str], monitor_body: Any
) -> None:
    await create_monitor("shop")
    response = await client.post("/api/v1/monitors", headers=write_auth, json=monitor_body("shop"))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 409


async def test_an_unknown_monitor_answers_404_on_every_verb(
    client: httpx.AsyncClient, admin_auth: dict[str, str]
) -> None:
    base = "/api/v1/monitors/no-such-id"
    for method, url, json in (
        ("GET", base, None),
        ("PATCH", base, {"interval": 30}),
        ("DELETE", base, None),
        ("POST", base + "/pause", None),
        ("POST", base + "/resume", None),
        ("GET", base + "/results", None),
        ("GET", base + "/uptime", None),
    ):
        response = await client.request(method, url, headers=admin_auth, json=json)
        assert response.status_code == 404, (method, url)
        assert response.headers["content-type"] == "application/problem+json"


async def test_patch_changes_only_the_given_fields_and_bumps_the_version(
    client: httpx.AsyncClient, create_monitor: Any, write_auth: dict[str, str], clock: Any
) -> None:
    created = await create_monitor("shop", method="HEAD")
    clock.advance(90)
    response = await client.patch(
        f"/api/v1/monitors/{created['id']}", headers=write_auth, json={"interval": "5m"}
    )
    assert response.status_code == 200
    doc = response.json()
    assert doc["interval"] == 300
    assert doc["version"] == created["version"] + 1
    assert doc["updated_at"] == "2024-05-01T12:01:30.000Z"
    assert doc["created_at"] == created["created_at"]
    unchanged = {k: v for k, v in created.items() if k not in ("interval", "version", "updated_at")}
    assert {k: doc[k] for k in unchanged} == unchanged


async def test_patch_validates_the_merged_monitor_naming_the_field(
    client: httpx.AsyncClient, create_monitor: Any, write_auth: dict[str, str]
) -> None:
    created = await create_monitor("shop", timeout=20)
    # 20 s timeout stays from the stored monitor, so 10 s is now too short an interval
    response = await client.patch(
        f"/api/v1/monitors/{created['id']}", headers=write_auth, json={"interval": 10}
    )
    assert response.status_code == 422
    assert "timeout" in _fields(response)


async def test_patch_to_a_taken_name_answers_409(
    client: httpx.AsyncClient, create_monitor: Any, write_auth: dict[str, str]
) -> None:
    await create_monitor("first")
    second = await create_monitor("second")
    response = await client.patch(
        f"/api/v1/monitors/{second['id']}", headers=write_auth, json={"name": "first"}
    )
    assert response.status_code == 409


async def test_delete_answers_204_and_the_monitor_is_gone(
    client: httpx.AsyncClient, create_monitor: Any, admin_auth: dict[str, str]
) -> None:
    created = await create_monitor("shop")
    url = f"/api/v1/monitors/{created['id']}"
    response = await client.delete(url, headers=admin_auth)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(url, headers=admin_auth)).status_code == 404
    assert (await client.delete(url, headers=admin_auth)).status_code == 404


async def test_pause_and_resume_set_paused_and_the_status(
    client: httpx.AsyncClient, create_monitor: Any, write_auth: dict[str, str]
) -> None:
    created = await create_monitor("shop")
    url = f"/api/v1/monitors/{created['id']}"
    paused = await client.post(url + "/pause", headers=write_auth)
    assert paused.status_code == 200
    assert (paused.json()["paused"], paused.json()["status"]) == (True, "paused")
    assert paused.json()["version"] == created["version"] + 1
    again = await client.post(url + "/pause", headers=write_auth)
    assert again.json()["version"] == paused.json()["version"]  # no change, no new version
    resumed = await client.post(url + "/resume", headers=write_auth)
    assert resumed.status_code == 200
    assert (resumed.json()["paused"], resumed.json()["status"]) == (False, "pending")
    assert (await client.get(url, headers=write_auth)).json() == resumed.json()


async def test_the_status_and_last_check_follow_recorded_results(
    client: httpx.AsyncClient,
    create_monitor: Any,
    read_auth: dict[str, str],
    store: Store,
    clock: Any,
) -> None:
    created = await create_monitor("shop")
    at = clock() - 30
    store.record_results(
        [
            Result(
                monitor_id=created["id"],
                slot=1000,
                scheduled_at=at,
                started_at=at + 0.5,
                duration_ms=12.0,
                ok=True,
                error_kind=None,
                error=None,
                http_status=200,
                ip="192.0.2.1",
                timings=Timings(total=12.0),
                attempts=1,
                node="node-a",
            )
        ]
    )
    doc = (await client.get(f"/api/v1/monitors/{created['id']}", headers=read_auth)).json()
    assert doc["status"] == "up"
    assert doc["last_check"] == {"slot": 1000, "at": "2024-05-01T11:59:30.500Z", "ok": True}


async def test_listing_walks_every_monitor_by_name_in_pages(
    client: httpx.AsyncClient, create_monitor: Any, read_auth: dict[str, str]
) -> None:
    names = [f"monitor-{i}" for i in (4, 0, 6, 2, 1, 5, 3)]
    for name in names:
        await create_monitor(name)
    seen: list[str] = []
    sizes: list[int] = []
    params: dict[str, str | int] = {"limit": 3}
    while True:
        response = await client.get("/api/v1/monitors", headers=read_auth, params=params)
        assert response.status_code == 200
        page = response.json()
        assert set(page) == {"items", "next"}
        seen += [m["name"] for m in page["items"]]
        sizes.append(len(page["items"]))
        if page["next"] is None:
            break
        params = {"limit": 3, "cursor": page["next"]}
    assert seen == sorted(names)
    assert sizes[:2] == [3, 3]


async def test_listing_defaults_to_100_per_page(
    client: httpx.AsyncClient, create_monitor: Any, read_auth: dict[str, str]
) -> None:
    await create_monitor("only")
    page = (await client.get("/api/v1/monitors", headers=read_auth)).json()
    assert [m["name"] for m in page["items"]] == ["only"]
    assert page["next"] is None


async def test_listing_refuses_a_limit_outside_1_to_500_naming_limit(
    client: httpx.AsyncClient, read_auth: dict[str, str]
) -> None:
    for bad in ("0", "501", "ten", "-1", "2.5"):
        response = await client.get("/api/v1/monitors", headers=read_auth, params={"limit": bad})
        assert response.status_code == 400, bad
        assert [e["field"] for e in response.json()["errors"]] == ["limit"]
    ok = await client.get("/api/v1/monitors", headers=read_auth, params={"limit": 500})
    assert ok.status_code == 200


async def test_listing_refuses_a_forged_cursor_with_400_naming_cursor(
    client: httpx.AsyncClient, read_auth: dict[str, str]
) -> None:
    response = await client.get(
        "/api/v1/monitors", headers=read_auth, params={"cursor": "!!not-a-cursor!!"}
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["cursor"]
