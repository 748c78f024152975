"""Monitor secrets over the API: shown masked, kept when the mask comes back, never echoed."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import MonitorBody
from uptrack.monitors import READ_ONLY_FIELDS
from uptrack.secrets import MASK
from uptrack.store.base import Store

PASSWORD = "pa55-w0rd-4-probe"
API_KEY = "k3y-0f-the-api"
COOKIE = "session=c00kie-jar"
PROXY_PASSWORD = "pr0xy-pa55"
TOKEN = "t0ken-0f-the-bearer"
SECRETS = (PASSWORD, API_KEY, COOKIE, PROXY_PASSWORD, TOKEN)
MASK_REFUSED = f"send the secret itself; {MASK} only keeps a stored one"

WITH_SECRETS: dict[str, Any] = {
    "basic_auth": {"username": "probe", "password": PASSWORD},
    "headers": {"X-Api-Key": API_KEY, "Cookie": COOKIE, "Accept": "application/json"},
    "proxy": f"http://squid:{PROXY_PASSWORD}@proxy.internal:3128",
}
SHOWN: dict[str, Any] = {
    "basic_auth": {"username": "probe", "password": MASK},
    "headers": {"X-Api-Key": MASK, "Cookie": MASK, "Accept": "application/json"},
    "proxy": f"http://squid:{MASK}@proxy.internal:3128",
}


def _errors(response: httpx.Response) -> dict[str, str]:
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def _assert_no_secret_in(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def _editable(document: dict[str, Any]) -> dict[str, Any]:
    """A monitor document as a client edits it: without the read-only fields."""
    return {k: v for k, v in document.items() if k not in READ_ONLY_FIELDS}


async def _create(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post("/api/v1/monitors", json=body, headers=auth)
    assert response.status_code == 201, response.text
    _assert_no_secret_in(response.text)
    document: dict[str, Any] = response.json()
    return document


async def test_a_created_monitor_shows_every_secret_masked(
    client: httpx.AsyncClient,
    write_auth: dict[str, str],
    read_auth: dict[str, str],
    monitor_body: MonitorBody,
) -> None:
    created = await _create(client, write_auth, monitor_body("api", **WITH_SECRETS))
    assert {k: created[k] for k in SHOWN} == SHOWN

    one = await client.get(f"/api/v1/monitors/{created['id']}", headers=read_auth)
    listed = await client.get("/api/v1/monitors", headers=read_auth)
    paused = await client.post(f"/api/v1/monitors/{created['id']}/pause", headers=write_auth)

    assert one.json() == created
    assert listed.json()["items"] == [created]
    assert {k: paused.json()[k] for k in SHOWN} == SHOWN
    for response in (one, listed, paused):
        _assert_no_secret_in(response.text)


async def test_the_store_keeps_the_real_secrets(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: MonitorBody, store: Store
) -> None:
    created = await _create(client, write_auth, monitor_body("api", **WITH_SECRETS))

    stored = store.get_monitor(created["id"]).settings

    assert {k: stored[k] for k in WITH_SECRETS} == WITH_SECRETS


async def test_sending_back_what_get_showed_keeps_every_stored_secret(
    client: httpx.AsyncClient,
    write_auth: dict[str, str],
    read_auth: dict[str, str],
    monitor_body: MonitorBody,
    store: Store,
) -> None:
    created = await _create(client, write_auth, monitor_body("api", **WITH_SECRETS))
    shown = (await client.get(f"/api/v1/monitors/{created['id']}", headers=read_auth)).json()
    edited = _editable(shown) | {"interval": 120}

    response = await client.patch(
        f"/api/v1/monitors/{created['id']}", json=edited, headers=write_auth
    )

    assert response.status_code == 200, response.text
    assert response.json()["interval"] == 120
    assert {k: response.json()[k] for k in SHOWN} == SHOWN
    monitor = store.get_monitor(created["id"])
    assert monitor.interval == 120
    assert {k: monitor.settings[k] for k in WITH_SECRETS} == WITH_SECRETS


async def test_a_patch_with_a_new_secret_replaces_the_stored_one(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: MonitorBody, store: Store
) -> None:
    created = await _create(client, write_auth, monitor_body("api", bearer_token=TOKEN))
    assert created["bearer_token"] == MASK

    response = await client.patch(
        f"/api/v1/monitors/{created['id']}",
        json={"bearer_token": "a-n3w-t0ken", "headers": {"X-Api-Key": "a-n3w-k3y"}},
        headers=write_auth,
    )

    assert response.status_code == 200, response.text
    assert response.json()["bearer_token"] == MASK
    assert response.json()["headers"] == {"X-Api-Key": MASK}
    settings = store.get_monitor(created["id"]).settings
    assert settings["bearer_token"] == "a-n3w-t0ken"
    assert settings["headers"] == {"X-Api-Key": "a-n3w-k3y"}


async def test_a_patch_can_keep_one_masked_secret_and_replace_another(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: MonitorBody, store: Store
) -> None:
    created = await _create(client, write_auth, monitor_body("api", **WITH_SECRETS))

    response = await client.patch(
        f"/api/v1/monitors/{created['id']}",
        json={"headers": {"X-Api-Key": MASK, "Cookie": "session=fr3sh-c00kie"}},
        headers=write_auth,
    )

    assert response.status_code == 200, response.text
    headers = store.get_monitor(created["id"]).settings["headers"]
    assert headers == {"X-Api-Key": API_KEY, "Cookie": "session=fr3sh-c00kie"}


async def test_creating_with_the_mask_as_a_secret_is_refused_naming_the_field(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: MonitorBody, store: Store
) -> None:
    response = await client.post(
        "/api/v1/monitors", json=monitor_body("api", **SHOWN), headers=write_auth
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert _errors(response) == {
        "basic_auth.password": MASK_REFUSED,
        "headers.X-Api-Key": MASK_REFUSED,
        "headers.Cookie": MASK_REFUSED,
        "proxy": MASK_REFUSED,
    }
    assert store.list_monitors(after=None, limit=10).items == []


async def test_a_masked_secret_the_monitor_never_had_is_refused(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: MonitorBody
) -> None:
    created = await _create(client, write_auth, monitor_body("api", **WITH_SECRETS))

    response = await client.patch(
        f"/api/v1/monitors/{created['id']}",
        json={"headers": {"X-Auth-Token": MASK}},
        headers=write_auth,
    )

    assert response.status_code == 422
    assert _errors(response) == {"headers.X-Auth-Token": MASK_REFUSED}


async def test_changing_the_kind_does_not_carry_masked_secrets_over(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: MonitorBody
) -> None:
    created = await _create(
        client, write_auth, monitor_body("api", kind="tcp", target="127.0.0.1:5432")
    )

    response = await client.patch(
        f"/api/v1/monitors/{created['id']}",
        json={"kind": "http", "target": "https://api.example/", "bearer_token": MASK},
        headers=write_auth,
    )

    assert response.status_code == 422
    assert _errors(response) == {"bearer_token": MASK_REFUSED}


async def test_a_bad_secret_header_value_is_refused_without_quoting_it(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: MonitorBody
) -> None:
    body = monitor_body("api", headers={"X-Api-Key": f"{API_KEY}\r\nX-Injected: 1"})

    response = await client.post("/api/v1/monitors", json=body, headers=write_auth)

    assert response.status_code == 422
    assert _errors(response) == {
        "headers": "the value of X-Api-Key must be printable ASCII, "
        "without spaces at its start or end"
    }
    _assert_no_secret_in(response.text)


async def test_a_secret_pasted_into_a_header_name_is_not_quoted(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: MonitorBody
) -> None:
    body = monitor_body("api", headers={f"Authorization: Bearer {TOKEN}": ""})

    response = await client.post("/api/v1/monitors", json=body, headers=write_auth)

    assert response.status_code == 422
    assert list(_errors(response)) == ["headers"]
    _assert_no_secret_in(response.text)


async def test_a_proxy_url_that_cannot_be_parsed_is_refused_without_quoting_its_password(
    client: httpx.AsyncClient, write_auth: dict[str, str], monitor_body: MonitorBody
) -> None:
    # U+FF03 normalises to '#': urlsplit refuses it and quotes the whole authority.
    body = monitor_body("api", proxy=f"http://squid:{PROXY_PASSWORD}\uff03@proxy.internal:3128")

    response = await client.post("/api/v1/monitors", json=body, headers=write_auth)

    assert response.status_code == 422
    assert list(_errors(response)) == ["proxy"]
    _assert_no_secret_in(response.text)


async def test_the_openapi_document_marks_secret_settings_write_only(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/openapi.json")
    schemas = response.json()["components"]["schemas"]
    http = schemas["HttpSettings"]["properties"]

    assert http["bearer_token"]["writeOnly"] is True
    assert schemas["BasicAuth"]["properties"]["password"]["writeOnly"] is True
    assert "writeOnly" not in schemas["BasicAuth"]["properties"]["username"]
    assert MASK in http["headers"]["description"]
    assert MASK in http["proxy"]["description"]


async def test_moving_a_monitor_to_another_host_needs_its_secrets_sent_again(
    client: httpx.AsyncClient, write_auth: dict[str, str], store: Store
) -> None:
    created = await client.post(
        "/api/v1/monitors",
        headers=write_auth,
        json={
            "name": "private",
            "kind": "http",
            "target": "https://api.example.com/health",
            "interval": 60,
            "bearer_token": "s3cret-token",
        },
    )
    monitor_id = created.json()["id"]
    moved = await client.patch(
        f"/api/v1/monitors/{monitor_id}",
        headers=write_auth,
        json={"target": "https://elsewhere.example.net/"},
    )
    assert moved.status_code == 422
    assert [e["field"] for e in moved.json()["errors"]] == ["bearer_token"]
    assert "s3cret-token" not in moved.text
    same_host = await client.patch(
        f"/api/v1/monitors/{monitor_id}",
        headers=write_auth,
        json={"target": "https://api.example.com/other"},
    )
    assert same_host.status_code == 200
    resent = await client.patch(
        f"/api/v1/monitors/{monitor_id}",
        headers=write_auth,
        json={"target": "https://elsewhere.example.net/", "bearer_token": "new-token"},
    )
    assert resent.status_code == 200
    stored = await store.call(store.get_monitor, monitor_id)
    assert stored.settings["bearer_token"] == "new-token"
