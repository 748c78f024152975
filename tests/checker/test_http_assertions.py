"""The http kind's assertions (status, headers, JSON, timing, certificate) and IP versions."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import trio

from checker.context import ProbeContext
from checker.kinds.http import KIND, HttpSettings
from tests.servers import HttpServer, Reply
from uptrack.model import Observation

STATUS = b'{"data": {"status": "degraded", "checks": [{"name": "db", "ok": false}]}, "n": 3}'


async def probe(url: str, ctx: ProbeContext, within: float = 2.0, **settings: Any) -> Observation:
    decoded = msgspec.convert(settings, HttpSettings)
    assert KIND.check_settings(decoded, timeout=within) == []
    with trio.fail_after(within + 1.0):
        return await KIND.check(KIND.parse_target(url), decoded, within, ctx)


@pytest.fixture
def status_url(http_server: HttpServer) -> str:
    http_server.routes["/status.json"] = Reply(
        body=STATUS, headers=[("Content-Type", "application/json"), ("X-Tag", "a"), ("X-Tag", "b")]
    )
    return http_server.url_for("/status.json")


async def test_it_passes_when_every_assertion_holds_and_records_each(
    status_url: str, probe_ctx: ProbeContext
) -> None:
    assertions = [
        "status in [200, 204]",
        'json.data.checks[0].name == "db"',
        "json.data.checks[-1].ok == false",
        "json.n >= 3",
        'header.content-type matches "json"',
        'header.x-tag == "a, b"',
        "response_time < 5000",
        'http_version == "1.1"',
        'body contains "degraded"',
    ]
    seen = await probe(status_url, probe_ctx, assertions=assertions)

    assert seen.ok, seen.error
    assert seen.details is not None
    outcomes = seen.details["assertions"]
    assert [o["assertion"] for o in outcomes] == assertions
    assert all(o["ok"] for o in outcomes)
    assert outcomes[1]["observed"] == "db"


async def test_it_reports_assertion_with_the_observed_value_of_the_first_failure(
    status_url: str, probe_ctx: ProbeContext
) -> None:
    seen = await probe(
        status_url,
        probe_ctx,
        assertions=['json.data.status == "ok"', "json.n == 3", "json.missing == 1"],
    )

    assert seen.error_kind == "assertion"
    assert (
        seen.error == 'assertion json.data.status == "ok" failed: observed "degraded" (and 1 more)'
    )
    assert seen.details is not None
    assert seen.details["assertions"] == [
        {
            "assertion": 'json.data.status == "ok"',
            "ok": False,
            "observed": "degraded",
            "reason": None,
        },
        {"assertion": "json.n == 3", "ok": True, "observed": 3, "reason": None},
        {
            "assertion": "json.missing == 1",
            "ok": False,
            "observed": None,
            "reason": "json.missing is missing",
        },
    ]


async def test_it_says_when_the_body_is_not_json(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    http_server.routes["/html"] = Reply(body=b"<html>")

    seen = await probe(http_server.url_for("/html"), probe_ctx, assertions=["json.a == 1"])

    assert seen.error_kind == "assertion"
    assert seen.error is not None
    assert seen.error.startswith("assertion json.a == 1 failed: the body is not JSON (")


async def test_a_deeply_nested_json_body_fails_the_assertion_not_the_probe(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    http_server.routes["/deep"] = Reply(body=b"[" * 200_000)

    seen = await probe(http_server.url_for("/deep"), probe_ctx, assertions=["json[0] == 1"])

    assert seen.error_kind == "assertion"
    assert seen.error is not None
    assert "the body is not JSON" in seen.error


async def test_response_time_is_a_threshold(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    url = http_server.url_for("/delay?seconds=0.2")

    seen = await probe(url, probe_ctx, assertions=["response_time < 100"])

    assert seen.error_kind == "assertion"
    assert seen.error is not None
    assert seen.error.startswith("assertion response_time < 100 failed: observed 2")


async def test_cert_facts_need_https(http_server: HttpServer, probe_ctx: ProbeContext) -> None:
    seen = await probe(http_server.url_for("/ok"), probe_ctx, assertions=["cert.days_left > 1"])

    assert seen.error == "assertion cert.days_left > 1 failed: the response came over http"


async def test_cert_facts_of_an_https_response(
    https_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(
        https_server.url_for("/ok"),
        probe_ctx,
        assertions=["cert.days_left > 14", 'cert.sans contains "localhost"'],
    )

    assert seen.ok, seen.error


@pytest.mark.parametrize(
    ("assertions", "field", "complaint"),
    [
        (["status in [200, 204]]"], "assertions[0]", "unexpected ']' at column 21"),
        (["status == 200", "stat == 1"], "assertions[1]", "unknown fact 'stat' at column 1"),
        (['header.x matches "("'], "assertions[0]", "invalid regular expression"),
        (["cert.day > 1"], "assertions[0]", "cert.day is not a known fact"),
    ],
)
def test_bad_assertions_are_refused_naming_their_position(
    assertions: list[str], field: str, complaint: str
) -> None:
    settings = msgspec.convert({"assertions": assertions}, HttpSettings)

    [(name, message)] = KIND.check_settings(settings, timeout=10)

    assert name == field
    assert complaint in message


def test_a_head_request_cannot_assert_on_the_body() -> None:
    settings = msgspec.convert({"method": "HEAD", "assertions": ["json.a == 1"]}, HttpSettings)

    assert KIND.check_settings(settings, timeout=10) == [
        ("assertions[0]", "a HEAD response has no body for json; use GET")
    ]


# --- IP version -----------------------------------------------------------------------


async def test_it_uses_only_addresses_of_the_ip_version_asked_for(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    v4 = await probe(f"http://localhost:{http_server.port}/ok", probe_ctx, ip_version=4)
    v6 = await probe(f"http://127.0.0.1:{http_server.port}/ok", probe_ctx, ip_version=6)

    assert v4.ok, v4.error
    assert v4.ip == "127.0.0.1"
    assert v6.error_kind == "dns"
    assert v6.error == "127.0.0.1 has no IPv6 address"
