"""Heartbeat pings through the API: ping URLs, signals, exit codes, the rate limit, 404s."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import httpx
import pytest

from tests.api.conftest import Clock
from uptrack.heartbeats import MAX_BODY, HeartbeatState
from uptrack.store.base import Store
from uptrack.store.sqlite import SqliteStore

P = ParamSpec("P")
R = TypeVar("R")


class RecordingStore(SqliteStore):
    """A real SqliteStore that notes every call the API makes through `Store.call`."""

    calls: list[tuple[str, tuple[Any, ...]]]

    async def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        self.calls.append((fn.__name__, args))
        return await super().call(fn, *args, **kwargs)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = RecordingStore(tmp_path / "uptrack.db")
    s.calls = []
    s.migrate()
    yield s
    s.close()


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture
async def monitor(client: httpx.AsyncClient, write_auth: dict[str, str]) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/monitors",
        json={"name": "backup", "kind": "heartbeat", "interval": "5m", "grace": "1m"},
        headers=write_auth,
    )
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


def record(store: Store, monitor: dict[str, Any]) -> HeartbeatState:
    found = store.get_heartbeat(sha256(monitor["token"]))
    assert found is not None
    return found


async def test_a_heartbeat_monitor_needs_no_target_and_shows_its_ping_url(
    client: httpx.AsyncClient, monitor: dict[str, Any], read_auth: dict[str, str]
) -> None:
    token = monitor["token"]
    assert len(token) == 32
    assert (monitor["kind"], monitor["target"], monitor["grace"]) == ("heartbeat", "", "1m")
    assert monitor["ping_url"] == f"http://test/ping/{token}"

    read = await client.get(f"/api/v1/monitors/{monitor['id']}", headers=read_auth)
    assert read.json()["ping_url"] == monitor["ping_url"]
    listed = await client.get("/api/v1/monitors", headers=read_auth)
    assert listed.json()["items"][0]["ping_url"] == monitor["ping_url"]


async def test_a_ping_is_recorded_without_an_api_token(
    client: httpx.AsyncClient, monitor: dict[str, Any], store: Store, clock: Clock
) -> None:
    response = await client.get(monitor["ping_url"])

    assert (response.status_code, response.text) == (200, "OK\n")
    assert response.headers["content-type"].startswith("text/plain")
    found = record(store, monitor)
    assert (found.last_ping_at, found.pings) == (clock(), 1)


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
async def test_get_post_and_head_all_ping(
    client: httpx.AsyncClient, monitor: dict[str, Any], store: Store, method: str
) -> None:
    response = await client.request(method, monitor["ping_url"])

    assert response.status_code == 200
    assert record(store, monitor).pings == 1


@pytest.mark.parametrize(
    ("suffix", "fields"),
    [
        ("/start", {"last_start_at": 1.0, "last_exit_code": None}),
        ("/fail", {"last_fail_at": 1.0, "last_exit_code": None}),
        ("/0", {"last_ping_at": 1.0, "last_exit_code": 0}),
        ("/3", {"last_fail_at": 1.0, "last_exit_code": 3}),
        ("/255", {"last_fail_at": 1.0, "last_exit_code": 255}),
    ],
)
async def test_signals_and_exit_codes_are_recorded_as_healthchecks_users_expect(
    client: httpx.AsyncClient,
    monitor: dict[str, Any],
    store: Store,
    clock: Clock,
    suffix: str,
    fields: dict[str, Any],
) -> None:
    response = await client.post(monitor["ping_url"] + suffix)

    assert response.status_code == 200
    found = record(store, monitor)
    times = {f: getattr(found, f) for f in ("last_ping_at", "last_start_at", "last_fail_at")}
    expected = {f: clock() if f in fields else None for f in times}
    assert times == expected
    assert found.last_exit_code == fields["last_exit_code"]


@pytest.mark.parametrize("suffix", ["/256", "/-1", "/finish", "/start/again", "/0003"])
async def test_a_path_that_is_no_signal_is_404_and_records_nothing(
    client: httpx.AsyncClient, monitor: dict[str, Any], store: Store, suffix: str
) -> None:
    response = await client.get(monitor["ping_url"] + suffix)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert record(store, monitor).pings == 0


async def test_the_body_is_kept_as_the_last_pings_text_up_to_10_kib(
    client: httpx.AsyncClient, monitor: dict[str, Any], store: Store
) -> None:
    await client.post(monitor["ping_url"] + "/1", content="rsync: No space left ✗\n".encode())
    assert record(store, monitor).last_body == "rsync: No space left ✗\n"

    big = b"x" * (MAX_BODY - 1) + "é".encode() + b"y" * 5000  # cut inside a character
    await client.post(monitor["ping_url"], content=big)
    assert record(store, monitor).last_body == "x" * (MAX_BODY - 1) + "\ufffd"


async def test_an_unknown_token_is_404(client: httpx.AsyncClient, monitor: dict[str, Any]) -> None:
    response = await client.get("/ping/" + "A" * 32)

    assert response.status_code == 404
    assert response.json()["detail"] == "no heartbeat monitor has this ping URL"


async def test_known_and_unknown_tokens_take_the_same_path_one_lookup_by_sha256(
    client: httpx.AsyncClient, monitor: dict[str, Any], store: RecordingStore
) -> None:
    unknown = monitor["token"][:-1] + ("A" if monitor["token"][-1] != "A" else "B")
    store.calls.clear()

    known_answer = await client.get(f"/ping/{monitor['token']}/fail")
    known_calls, store.calls = store.calls, []
    unknown_answer = await client.get(f"/ping/{unknown}/fail")

    assert (known_answer.status_code, unknown_answer.status_code) == (200, 404)
    assert [(name, args[0]) for name, args in known_calls] == [
        ("record_ping", sha256(monitor["token"]))
    ]
    assert [(name, args[0]) for name, args in store.calls] == [("record_ping", sha256(unknown))]


async def test_pings_are_rate_limited_per_token(
    client: httpx.AsyncClient,
    monitor: dict[str, Any],
    write_auth: dict[str, str],
    store: Store,
    clock: Clock,
) -> None:
    other = await client.post(
        "/api/v1/monitors",
        json={"name": "other", "kind": "heartbeat", "interval": 60},
        headers=write_auth,
    )
    answers = [(await client.get(monitor["ping_url"])).status_code for _ in range(11)]

    assert answers == [200] * 10 + [429]
    limited = await client.get(monitor["ping_url"])
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["content-type"] == "application/problem+json"
    assert record(store, monitor).pings == 10
    assert (await client.get(other.json()["ping_url"])).status_code == 200  # its own budget

    clock.advance(0.5)  # two pings a second refill
    assert (await client.get(monitor["ping_url"])).status_code == 200
    assert (await client.get(monitor["ping_url"])).status_code == 429


async def test_unknown_tokens_are_rate_limited_too(client: httpx.AsyncClient) -> None:
    answers = [(await client.get("/ping/" + "B" * 32)).status_code for _ in range(11)]

    assert answers == [404] * 10 + [429]


async def test_a_new_token_moves_the_ping_url_and_the_old_one_stops(
    client: httpx.AsyncClient, monitor: dict[str, Any], write_auth: dict[str, str]
) -> None:
    response = await client.patch(
        f"/api/v1/monitors/{monitor['id']}", json={"token": None}, headers=write_auth
    )

    assert response.status_code == 200
    moved = response.json()
    assert moved["ping_url"] != monitor["ping_url"]
    assert (await client.get(monitor["ping_url"])).status_code == 404
    assert (await client.get(moved["ping_url"])).status_code == 200


async def test_editing_other_fields_keeps_the_ping_url(
    client: httpx.AsyncClient, monitor: dict[str, Any], write_auth: dict[str, str]
) -> None:
    response = await client.patch(
        f"/api/v1/monitors/{monitor['id']}",
        json={"interval": "10m", "target": "backup@db1"},
        headers=write_auth,
    )

    assert response.json()["ping_url"] == monitor["ping_url"]


async def test_a_chosen_token_is_validated_and_must_be_unused(
    client: httpx.AsyncClient, monitor: dict[str, Any], write_auth: dict[str, str]
) -> None:
    body = {"name": "chosen", "kind": "heartbeat", "interval": 60}
    short = await client.post("/api/v1/monitors", json=body | {"token": "x"}, headers=write_auth)
    taken = await client.post(
        "/api/v1/monitors", json=body | {"token": monitor["token"]}, headers=write_auth
    )

    assert short.status_code == 422
    assert [e["field"] for e in short.json()["errors"]] == ["token"]
    assert taken.status_code == 409
