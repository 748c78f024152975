"""A monitor's results (newest first, in pages) and its uptime over a window."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

from uptrack.model import Result, Timings
from uptrack.store.base import Store

HOUR = 3600.0
DAY = 86_400.0


def _result(
    monitor_id: str, at: float, *, ok: bool = True, duration_ms: float = 10.0, slot: int = 0
) -> Result:
    return Result(
        monitor_id=monitor_id,
        slot=slot or int(at // 60),
        scheduled_at=at,
        started_at=at + 0.25,
        duration_ms=duration_ms,
        ok=ok,
        error_kind=None if ok else "timeout",
        error=None if ok else "timed out after 10 s while connecting",
        http_status=200 if ok else None,
        ip="192.0.2.7",
        timings=Timings(dns=1.0, connect=2.0, total=duration_ms),
        attempts=1 if ok else 3,
        node="node-a",
    )


@pytest.fixture
async def monitor_id(create_monitor: Any) -> str:
    created: dict[str, Any] = await create_monitor("shop")
    return str(created["id"])


async def test_a_result_is_shown_with_every_field_and_rfc3339_times(
    client: httpx.AsyncClient, monitor_id: str, read_auth: dict[str, str], store: Store, clock: Any
) -> None:
    store.record_results([_result(monitor_id, clock() - 60, ok=False, duration_ms=10_000.0)])
    response = await client.get(f"/api/v1/monitors/{monitor_id}/results", headers=read_auth)
    assert response.status_code == 200
    page = response.json()
    assert page["next"] is None
    assert page["items"] == [
        {
            "slot": int((clock() - 60) // 60),
            "scheduled_at": "2024-05-01T11:59:00.000Z",
            "started_at": "2024-05-01T11:59:00.250Z",
            "ok": False,
            "error_kind": "timeout",
            "error": "timed out after 10 s while connecting",
            "duration_ms": 10_000.0,
            "timings": {"dns": 1.0, "connect": 2.0, "tls": None, "ttfb": None, "total": 10_000.0},
            "http_status": None,
            "ip": "192.0.2.7",
            "attempts": 3,
            "node": "node-a",
            "details": None,
        }
    ]


async def test_a_result_shows_the_details_its_check_recorded(
    client: httpx.AsyncClient, monitor_id: str, read_auth: dict[str, str], store: Store, clock: Any
) -> None:
    details = {
        "chain": [{"subject": "CN=example.com", "not_after": "2025-01-01T00:00:00Z"}],
        "assertions": [{"assertion": "status == 200", "ok": False, "observed": 503}],
    }
    result = msgspec.structs.replace(_result(monitor_id, clock() - 60), details=details)
    store.record_results([result])

    response = await client.get(f"/api/v1/monitors/{monitor_id}/results", headers=read_auth)

    assert response.json()["items"][0]["details"] == details


async def test_results_walk_newest_first_through_every_page(
    client: httpx.AsyncClient, monitor_id: str, read_auth: dict[str, str], store: Store, clock: Any
) -> None:
    store.record_results([_result(monitor_id, clock() - i * 60) for i in range(25)])
    slots: list[int] = []
    params: dict[str, str | int] = {"limit": 10}
    while True:
        response = await client.get(
            f"/api/v1/monitors/{monitor_id}/results", headers=read_auth, params=params
        )
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= 10
        slots += [r["slot"] for r in page["items"]]
        if page["next"] is None:
            break
        params = {"limit": 10, "cursor": page["next"]}
    newest = int(clock() // 60)
    assert slots == [newest - i for i in range(25)]


async def test_results_refuse_a_limit_outside_1_to_1000_naming_limit(
    client: httpx.AsyncClient, monitor_id: str, read_auth: dict[str, str]
) -> None:
    url = f"/api/v1/monitors/{monitor_id}/results"
    for bad in ("0", "1001"):
        response = await client.get(url, headers=read_auth, params={"limit": bad})
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "limit"
        assert "1 to 1000" in response.json()["errors"][0]["message"]
    assert (await client.get(url, headers=read_auth, params={"limit": 1000})).status_code == 200


async def test_results_refuse_a_forged_cursor_naming_cursor(
    client: httpx.AsyncClient, monitor_id: str, read_auth: dict[str, str]
) -> None:
    response = await client.get(
        f"/api/v1/monitors/{monitor_id}/results", headers=read_auth, params={"cursor": "abc"}
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["cursor"]


@pytest.fixture
async def history(monitor_id: str, store: Store, clock: Any) -> None:
    """Results spread over 100 days: what each window sees is known exactly."""
    now = clock()
    store.record_results(
        [
            _result(monitor_id, now - 1 * HOUR, ok=True, duration_ms=10.0),
            _result(monitor_id, now - 2 * HOUR, ok=False, duration_ms=30.0),
            _result(monitor_id, now - 3 * DAY, ok=True, duration_ms=20.0),
            _result(monitor_id, now - 20 * DAY, ok=True, duration_ms=40.0),
            _result(monitor_id, now - 60 * DAY, ok=False, duration_ms=50.0),
            _result(monitor_id, now - 100 * DAY, ok=True, duration_ms=60.0),
            _result(monitor_id, now + 1 * HOUR, ok=True, duration_ms=70.0),  # future: outside
        ]
    )


@pytest.mark.parametrize(
    ("window", "since", "checks", "good", "mean_ms", "p95_ms"),
    [
        ("24h", "2024-04-30T12:00:00.000Z", 2, 1, 20.0, 30.0),
        ("7d", "2024-04-24T12:00:00.000Z", 3, 2, 20.0, 30.0),
        ("30d", "2024-04-01T12:00:00.000Z", 4, 3, 25.0, 40.0),
        ("90d", "2024-02-01T12:00:00.000Z", 5, 3, 30.0, 50.0),
    ],
)
async def test_uptime_counts_only_results_scheduled_inside_the_window(
    client: httpx.AsyncClient,
    monitor_id: str,
    read_auth: dict[str, str],
    history: None,
    window: str,
    since: str,
    checks: int,
    good: int,
    mean_ms: float,
    p95_ms: float,
) -> None:
    response = await client.get(
        f"/api/v1/monitors/{monitor_id}/uptime", headers=read_auth, params={"window": window}
    )
    assert response.status_code == 200
    assert response.json() == {
        "window": window,
        "since": since,
        "until": "2024-05-01T12:00:00.000Z",
        "checks": checks,
        "good": good,
        "failed": checks - good,
        "uptime": good / checks,
        "mean_ms": mean_ms,
        "p95_ms": p95_ms,
    }


async def test_uptime_defaults_to_the_last_24_hours(
    client: httpx.AsyncClient, monitor_id: str, read_auth: dict[str, str], history: None
) -> None:
    body = (await client.get(f"/api/v1/monitors/{monitor_id}/uptime", headers=read_auth)).json()
    assert (body["window"], body["checks"], body["uptime"]) == ("24h", 2, 0.5)


async def test_uptime_without_results_is_null_not_zero(
    client: httpx.AsyncClient, monitor_id: str, read_auth: dict[str, str]
) -> None:
    body = (await client.get(f"/api/v1/monitors/{monitor_id}/uptime", headers=read_auth)).json()
    assert (body["checks"], body["uptime"], body["mean_ms"], body["p95_ms"]) == (
        0,
        None,
        None,
        None,
    )


@pytest.mark.parametrize("window", ["1h", "24H", "365d", ""])
async def test_uptime_refuses_other_windows_naming_window_and_the_accepted_values(
    client: httpx.AsyncClient, monitor_id: str, read_auth: dict[str, str], window: str
) -> None:
    response = await client.get(
        f"/api/v1/monitors/{monitor_id}/uptime", headers=read_auth, params={"window": window}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["field"] == "window"
    assert "24h, 7d, 30d, 90d" in error["message"]
