"""Bearer tokens: 401 for a missing, malformed, unknown, revoked or expired token,
403 for a token whose scope is too small, and throttled recording of token use."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.app import ENDPOINTS
from tests.alerts.scenarios import dead_alert
from uptrack.store.base import Store
from uptrack.tokens import NewToken

PROTECTED = [e for e in ENDPOINTS if e.scope is not None]
WRITES = [e for e in PROTECTED if e.scope == "write"]


def _ids(endpoints: list[Any]) -> list[str]:
    return [f"{e.method} {e.path}" for e in endpoints]


async def _call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    monitor_id: str,
    headers: dict[str, str],
    body: dict[str, Any],
) -> httpx.Response:
    url = path.replace("{monitor_id}", monitor_id)
    json = body if method in ("POST", "PATCH") and not url.endswith(("pause", "resume")) else None
    return await client.request(method, url, headers=headers, json=json)


@pytest.fixture
async def monitor(create_monitor: Any) -> dict[str, Any]:
    document: dict[str, Any] = await create_monitor("guarded")
    return document


@pytest.mark.parametrize("endpoint", PROTECTED, ids=_ids(PROTECTED))
async def test_every_protected_endpoint_answers_401_without_a_token(
    client: httpx.AsyncClient, monitor: dict[str, Any], monitor_body: Any, endpoint: Any
) -> None:
    response = await _call(
        client, endpoint.method, endpoint.path, monitor["id"], {}, monitor_body("other")
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in response.json()["detail"]


@pytest.mark.parametrize("endpoint", WRITES, ids=_ids(WRITES))
async def test_every_write_endpoint_answers_403_naming_the_write_scope_to_a_read_token(
    client: httpx.AsyncClient,
    monitor: dict[str, Any],
    monitor_body: Any,
    read_auth: dict[str, str],
    write_auth: dict[str, str],
    endpoint: Any,
) -> None:
    response = await _call(
        client, endpoint.method, endpoint.path, monitor["id"], read_auth, monitor_body("other")
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "write scope" in response.json()["detail"]
    assert 'scope="write"' in response.headers["www-authenticate"]
    # nothing was changed by the refused call
    listed = (await client.get("/api/v1/monitors", headers=read_auth)).json()["items"]
    assert [(m["name"], m["version"], m["paused"]) for m in listed] == [
        ("guarded", monitor["version"], False)
    ]


@pytest.mark.parametrize("endpoint", WRITES, ids=_ids(WRITES))
async def test_every_write_endpoint_accepts_an_admin_token(
    client: httpx.AsyncClient,
    monitor: dict[str, Any],
    monitor_body: Any,
    admin_auth: dict[str, str],
    endpoint: Any,
    store: Store,
    clock: Any,
) -> None:
    if endpoint.path.startswith(ALERT_PATHS):
        response = await _call_alerts(client, endpoint, monitor, admin_auth, store, clock())
    else:
        response = await _call(
            client, endpoint.method, endpoint.path, monitor["id"], admin_auth, monitor_body("other")
        )
    assert response.status_code in (200, 201, 204), response.text


# -- alerts (DESIGN §6): these endpoints act on channels, incidents, windows, alerts --
ALERT_PATHS = ("/api/v1/channels", "/api/v1/incidents", "/api/v1/alerts", "/api/v1/maintenances")
ALERT_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/channels"): {
        "name": "pager",
        "kind": "webhook",
        "settings": {"url": "http://127.0.0.1:9/hook"},
    },
    ("PATCH", "/api/v1/channels/{channel_id}"): {"tags": ["prod"]},
    ("POST", "/api/v1/maintenances"): {
        "name": "patch day",
        "tags": ["prod"],
        "starts_at": "2024-05-01T00:00:00Z",
        "ends_at": "2024-05-02T00:00:00Z",
    },
    ("PATCH", "/api/v1/maintenances/{maintenance_id}"): {"name": "patch night"},
}


async def _call_alerts(
    client: httpx.AsyncClient,
    endpoint: Any,
    monitor: dict[str, Any],
    headers: dict[str, str],
    store: Store,
    now: float,
) -> httpx.Response:
    """Call an alerting endpoint on objects that exist: a channel the monitor does not
    name (so it may be deleted), an incident and a dead alert of another one."""
    channel, incident_id, alert_id = dead_alert(store, now)
    window = await client.post(
        "/api/v1/maintenances",
        headers=headers,
        json=ALERT_BODIES[("POST", "/api/v1/maintenances")],
    )
    ids = {
        "{channel_id}": channel.id,
        "{incident_id}": incident_id,
        "{alert_id}": str(alert_id),
        "{maintenance_id}": window.json()["id"],
    }
    url = endpoint.path
    for placeholder, value in ids.items():
        url = url.replace(placeholder, value)
    body = ALERT_BODIES.get((endpoint.method, endpoint.path))
    return await client.request(endpoint.method, url, headers=headers, json=body)


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer    ",
        "Bearer not-an-uptrack-token",
        "Bearer upt_with space",
        "Token upt_abcdef",
    ],
)
async def test_a_malformed_authorization_header_is_refused_with_401(
    client: httpx.AsyncClient, header: str
) -> None:
    response = await client.get("/api/v1/monitors", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_an_unknown_token_is_refused_with_401(client: httpx.AsyncClient) -> None:
    unknown = NewToken().secret
    response = await client.get("/api/v1/monitors", headers={"Authorization": f"Bearer {unknown}"})
    assert response.status_code == 401
    assert response.json()["detail"] == "the token is not known"


async def test_the_bearer_scheme_is_matched_without_regard_to_case(
    client: httpx.AsyncClient, tokens: Any
) -> None:
    _, secret = tokens.issue("read")
    response = await client.get("/api/v1/monitors", headers={"Authorization": f"bearer {secret}"})
    assert response.status_code == 200


async def test_a_revoked_token_is_refused_with_401(
    client: httpx.AsyncClient, tokens: Any, store: Store, clock: Any
) -> None:
    token_id, secret = tokens.issue("admin")
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/monitors", headers=headers)).status_code == 200
    store.revoke_token(token_id, now=clock())
    response = await client.get("/api/v1/monitors", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "the token was revoked"


async def test_a_token_is_refused_with_401_once_it_expires(
    client: httpx.AsyncClient, tokens: Any, clock: Any
) -> None:
    _, secret = tokens.issue("read", expires_at=clock() + 3600)
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/monitors", headers=headers)).status_code == 200
    clock.advance(3600)
    response = await client.get("/api/v1/monitors", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "the token has expired"


async def test_a_read_token_may_read(
    client: httpx.AsyncClient, monitor: dict[str, Any], read_auth: dict[str, str]
) -> None:
    response = await client.get(f"/api/v1/monitors/{monitor['id']}", headers=read_auth)
    assert response.status_code == 200


async def test_a_token_use_is_recorded_at_most_once_a_minute(
    client: httpx.AsyncClient, tokens: Any, store: Store, clock: Any
) -> None:
    token_id, secret = tokens.issue("read")
    headers = {"Authorization": f"Bearer {secret}"}

    def last_used() -> float | None:
        (token,) = [t for t in store.list_tokens() if t.id == token_id]
        return token.last_used_at

    assert last_used() is None
    first = clock()
    await client.get("/api/v1/monitors", headers=headers)
    assert last_used() == first
    clock.advance(59)
    await client.get("/api/v1/monitors", headers=headers)
    assert last_used() == first
    clock.advance(1)
    await client.get("/api/v1/monitors", headers=headers)
    assert last_used() == first + 60


async def test_refused_tokens_are_not_recorded_as_used(
    client: httpx.AsyncClient, tokens: Any, store: Store, read_auth: dict[str, str]
) -> None:
    response = await client.post("/api/v1/monitors", headers=read_auth, json={})
    assert response.status_code == 403
    assert all(t.last_used_at is None for t in store.list_tokens())
