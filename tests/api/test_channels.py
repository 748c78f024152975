"""The channels resource: CRUD with write-only secrets, routing by name, test sends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.servers.healthy import Reply
from tests.servers.receiver import Receiver, body_json, serve_receiver
from uptrack.secrets import MASK

SLACK = {"url": "https://hooks.slack.com/services/T000/B000/very-secret-token"}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serve_receiver() as server:
        yield server


def _fields(response: httpx.Response) -> dict[str, str]:
    return {e["field"]: e["message"] for e in response.json()["errors"]}


async def _create(client: httpx.AsyncClient, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/channels", headers=auth, json=body)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


async def test_a_channel_is_created_and_read_back_with_its_secrets_masked(
    client: httpx.AsyncClient, write_auth: dict[str, str], read_auth: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/channels",
        headers=write_auth,
        json={"name": "team", "kind": "slack", "settings": SLACK, "tags": ["prod"]},
    )

    assert response.status_code == 201
    doc = response.json()
    assert response.headers["location"] == f"/api/v1/channels/{doc['id']}"
    assert doc["settings"] == {"url": MASK}
    assert (doc["name"], doc["kind"], doc["tags"]) == ("team", "slack", ["prod"])
    read = await client.get(f"/api/v1/channels/{doc['id']}", headers=read_auth)
    assert read.json() == doc
    listed = await client.get("/api/v1/channels", headers=read_auth)
    assert listed.json() == {"items": [doc], "next": None}
    assert "very-secret-token" not in listed.text


async def test_sending_the_mask_back_keeps_the_stored_secret(
    client: httpx.AsyncClient, write_auth: dict[str, str], store: Any
) -> None:
    created = await _create(
        client,
        write_auth,
        name="hook",
        kind="webhook",
        settings={"url": "https://example.com/h", "secret": "hmac-key-1234"},
    )
    response = await client.patch(
        f"/api/v1/channels/{created['id']}",
        headers=write_auth,
        json={"settings": {"url": MASK, "secret": MASK, "method": "PUT"}},
    )

    assert response.status_code == 200, response.text
    stored = store.get_channel(created["id"])
    assert stored.settings["secret"] == "hmac-key-1234"
    assert stored.settings["url"] == "https://example.com/h"
    assert stored.settings["method"] == "PUT"


async def test_invalid_channels_are_refused_naming_each_field(
    client: httpx.AsyncClient, write_auth: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/channels",
        headers=write_auth,
        json={"kind": "slack", "settings": {"url": "ftp://x"}, "tags": ["bad tag"], "x": 1},
    )

    assert response.status_code == 422
    fields = _fields(response)
    assert set(fields) == {"name", "settings.url", "tags[0]", "x"}
    unknown = await client.post(
        "/api/v1/channels", headers=write_auth, json={"name": "a", "kind": "fax", "settings": {}}
    )
    assert "is not a channel kind" in _fields(unknown)["kind"]
    masked = await client.post(
        "/api/v1/channels",
        headers=write_auth,
        json={"name": "a", "kind": "slack", "settings": {"url": MASK}},
    )
    assert "placeholder of a stored secret" in _fields(masked)["settings.url"]


async def test_a_taken_name_is_a_conflict_and_an_unknown_channel_is_404(
    client: httpx.AsyncClient, write_auth: dict[str, str]
) -> None:
    await _create(client, write_auth, name="team", kind="slack", settings=SLACK)
    again = await client.post(
        "/api/v1/channels",
        headers=write_auth,
        json={"name": "team", "kind": "slack", "settings": SLACK},
    )
    assert again.status_code == 409
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method,
            "/api/v1/channels/nope",
            headers=write_auth,
            json={} if method == "PATCH" else None,
        )
        assert response.status_code == 404, method
    assert (await client.post("/api/v1/channels/nope/test", headers=write_auth)).status_code == 404


async def test_monitors_may_name_only_channels_that_exist_and_such_channels_stay(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: Any
) -> None:
    refused = await client.post(
        "/api/v1/monitors", headers=write_auth, json=monitor_body(channels=["pager"])
    )
    assert refused.status_code == 422
    assert _fields(refused) == {"channels[0]": "no channel is named 'pager'"}

    channel = await _create(client, write_auth, name="pager", kind="slack", settings=SLACK)
    made = await client.post(
        "/api/v1/monitors",
        headers=write_auth,
        json=monitor_body(channels=["pager"], tags=["prod"], remind_every="30m"),
    )
    assert made.status_code == 201, made.text
    doc = made.json()
    assert (doc["channels"], doc["tags"], doc["remind_every"]) == (["pager"], ["prod"], 1800.0)
    gone = await client.delete(f"/api/v1/channels/{channel['id']}", headers=write_auth)
    assert gone.status_code == 409
    assert "'example'" in gone.json()["detail"]

    await client.patch(f"/api/v1/monitors/{doc['id']}", headers=write_auth, json={"channels": []})
    gone = await client.delete(f"/api/v1/channels/{channel['id']}", headers=write_auth)
    assert gone.status_code == 204


async def test_a_bad_reminder_period_is_refused(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: Any
) -> None:
    response = await client.post(
        "/api/v1/monitors", headers=write_auth, json=monitor_body(remind_every="10s")
    )
    assert response.status_code == 422
    assert _fields(response) == {"remind_every": "10 s is outside the accepted 1m to 7d"}


async def test_a_test_send_reaches_the_channel_and_answers_how_it_went(
    client: httpx.AsyncClient, write_auth: dict[str, str], receiver: Receiver
) -> None:
    channel = await _create(
        client,
        write_auth,
        name="hook",
        kind="webhook",
        settings={"url": receiver.url_for("/hook")},
    )
    url = f"/api/v1/channels/{channel['id']}/test"

    ok = await client.post(url, headers=write_auth)

    assert ok.status_code == 200
    assert ok.json()["delivered"] is True
    (seen,) = await receiver.wait_for(1)
    assert body_json(seen)["event"] == "test"
    assert seen.header("Idempotency-Key") == ok.json()["dedup_key"]

    receiver.script("/hook", Reply(status=401, body=b"bad token"))
    refused = await client.post(url, headers=write_auth)
    assert refused.json() == {
        "delivered": False,
        "dedup_key": refused.json()["dedup_key"],
        "error": "webhook answered 401: bad token",
        "permanent": True,
    }


async def test_a_read_token_cannot_send_a_test(
    client: httpx.AsyncClient, write_auth: dict[str, str], read_auth: dict[str, str]
) -> None:
    channel = await _create(client, write_auth, name="team", kind="slack", settings=SLACK)
    response = await client.post(f"/api/v1/channels/{channel['id']}/test", headers=read_auth)
    assert response.status_code == 403
