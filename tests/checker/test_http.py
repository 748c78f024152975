"""The http kind against real loopback servers: healthy, TLS, and hostile."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import msgspec
import pytest
import trio

from checker.context import ProbeContext
from checker.kinds.http import KIND, HttpSettings
from tests.servers import (
    CertCase,
    CertificateAuthority,
    HostileServer,
    HttpServer,
    Reply,
    serve_http,
    serve_tcp,
)
from tests.servers.netns import IsolatedNetwork
from uptrack.model import Observation


async def probe(url: str, ctx: ProbeContext, within: float = 2.0, **settings: Any) -> Observation:
    """Check `url` as the scheduler would: settings decoded from plain data."""
    return await KIND.check(
        KIND.parse_target(url), msgspec.convert(settings, HttpSettings), within, ctx
    )


async def probe_timing(
    url: str, ctx: ProbeContext, within: float, **settings: Any
) -> tuple[Observation, float]:
    """The observation, and the seconds the check took by the trio clock.

    The outer deadline turns a probe that ignores its own into a failure, not a hang.
    """
    start = trio.current_time()
    with trio.fail_after(within + 1.0):
        seen = await probe(url, ctx, within, **settings)
    return seen, trio.current_time() - start


# --- the good path ---------------------------------------------------------------


async def test_it_reports_up_with_status_ip_and_timings_for_a_healthy_url(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(http_server.url_for("/ok"), probe_ctx)

    assert seen.ok
    assert seen.error_kind is None
    assert seen.http_status == 200
    assert seen.ip == "127.0.0.1"
    assert seen.timings.dns is None  # an IP literal is not resolved
    assert seen.timings.tls is None
    assert seen.timings.connect is not None
    assert seen.timings.ttfb is not None
    assert seen.timings.total is not None
    assert seen.timings.total >= seen.timings.connect + seen.timings.ttfb


async def test_it_resolves_a_host_name_and_times_the_lookup(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(f"http://localhost:{http_server.port}/ok", probe_ctx)

    assert seen.ok
    assert seen.ip == "127.0.0.1"
    assert seen.timings.dns is not None
    assert http_server.requests[-1].header("host") == f"localhost:{http_server.port}"


async def test_it_checks_https_with_a_certificate_it_trusts(
    https_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(https_server.url_for("/ok"), probe_ctx)

    assert seen.ok
    assert seen.http_status == 200
    assert seen.timings.tls is not None


async def test_it_sends_the_method_headers_and_body_of_the_settings_on_a_fresh_connection(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(
        http_server.url_for("/ok?x=1"),
        probe_ctx,
        method="POST",
        headers={"Content-Type": "application/json", "X-Token": "secret", "User-Agent": "mine"},
        body='{"ping": "pong"}',
    )

    assert seen.ok
    [request] = http_server.requests
    assert request.method == "POST"
    assert request.target == "/ok?x=1"
    assert request.body == b'{"ping": "pong"}'
    assert request.header("content-length") == "16"
    assert request.header("content-type") == "application/json"
    assert request.header("x-token") == "secret"
    assert request.header("user-agent") == "mine"
    assert request.header("host") == f"127.0.0.1:{http_server.port}"
    assert request.header("connection") == "close"


async def test_it_introduces_itself_with_the_context_user_agent(
    http_server: HttpServer,
) -> None:
    await probe(http_server.url_for("/ok"), ProbeContext(user_agent="Uptrack-test/1"))

    assert http_server.requests[-1].header("user-agent") == "Uptrack-test/1"
    assert http_server.requests[-1].header("accept-encoding") == "identity"


async def test_it_accepts_a_head_response_without_a_body(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    http_server.routes["/page"] = Reply(body=b"a body HEAD does not get")

    seen = await probe(http_server.url_for("/page"), probe_ctx, method="HEAD")

    assert seen.ok
    assert http_server.requests[-1].method == "HEAD"


# --- status ----------------------------------------------------------------------


async def test_it_reports_status_when_the_code_is_not_accepted(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(http_server.url_for("/status/503"), probe_ctx)

    assert not seen.ok
    assert seen.error_kind == "status"
    assert seen.error == "status 503 not in 200-399"
    assert seen.http_status == 503


async def test_it_accepts_the_codes_and_ranges_listed_in_accepted_status(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    url = http_server.url_for("/status/503")

    assert (await probe(url, probe_ctx, accepted_status=[503])).ok
    assert (await probe(url, probe_ctx, accepted_status=["200-299", "500-503"])).ok
    refused = await probe(url, probe_ctx, accepted_status=[200, "500-502"])
    assert refused.error == "status 503 not in 200, 500-502"


# --- redirects -------------------------------------------------------------------


async def test_it_follows_redirects_to_the_final_response(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(http_server.url_for("/redirect/3"), probe_ctx)

    assert seen.ok
    assert seen.http_status == 200
    assert [r.target for r in http_server.requests] == [
        "/redirect/3",
        "/redirect/2",
        "/redirect/1",
        "/redirect/0",
    ]


async def test_it_reports_protocol_when_a_redirect_chain_is_longer_than_max_redirects(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(http_server.url_for("/redirect/50"), probe_ctx)

    assert seen.error_kind == "protocol"
    assert seen.error == "more than 10 redirects"
    assert len(http_server.requests) == 11  # the first request and 10 redirects


async def test_it_follows_exactly_max_redirects(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    assert (await probe(http_server.url_for("/redirect/3"), probe_ctx, max_redirects=3)).ok
    too_many = await probe(http_server.url_for("/redirect/3"), probe_ctx, max_redirects=2)
    assert too_many.error == "more than 2 redirects"


async def test_it_judges_the_redirect_itself_when_told_not_to_follow(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    url = http_server.url_for("/redirect/5")

    followed_not = await probe(url, probe_ctx, follow_redirects=False)
    refused = await probe(url, probe_ctx, follow_redirects=False, accepted_status=["200-299"])

    assert followed_not.ok
    assert followed_not.http_status == 302
    assert refused.error == "status 302 not in 200-299"
    assert len(http_server.requests) == 2


@pytest.mark.parametrize(
    ("status", "method", "body"),
    [
        (303, "GET", b""),
        (302, "GET", b""),
        (301, "GET", b""),
        (307, "POST", b"payload"),
        (308, "POST", b"payload"),
    ],
)
async def test_it_turns_a_post_into_a_get_only_where_the_redirect_status_says_so(
    http_server: HttpServer, probe_ctx: ProbeContext, status: int, method: str, body: bytes
) -> None:
    url = http_server.url_for(f"/redirect-to?status={status}&location=/ok")

    seen = await probe(
        url, probe_ctx, method="POST", body="payload", headers={"Content-Type": "text/plain"}
    )

    assert seen.ok
    hop = http_server.requests[-1]
    assert (hop.target, hop.method, hop.body) == ("/ok", method, body)
    assert (hop.header("content-type") is not None) == (method == "POST")


async def test_it_keeps_credentials_on_the_same_origin_and_drops_them_on_another(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    async with serve_http() as other:
        elsewhere = quote(other.url_for("/ok"), safe="")
        url = http_server.url_for(f"/redirect-to?location=/redirect-to%3Flocation%3D{elsewhere}")

        seen = await probe(url, probe_ctx, headers={"Authorization": "Bearer t", "X-Keep": "1"})

        assert seen.ok
        [first, second] = http_server.requests
        [third] = other.requests
    assert first.header("authorization") == second.header("authorization") == "Bearer t"
    assert third.header("authorization") is None
    assert third.header("x-keep") == "1"
    assert third.header("host") == f"127.0.0.1:{other.port}"


async def test_it_reports_protocol_for_a_redirect_to_a_scheme_it_cannot_follow(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    url = http_server.url_for("/redirect-to?location=ftp://files.example/x")

    seen = await probe(url, probe_ctx)

    assert seen.error_kind == "protocol"
    assert seen.error is not None
    assert seen.error.startswith("redirect 302 to an unusable Location: unsupported scheme 'ftp'")


# --- keywords and the body -------------------------------------------------------


async def test_it_passes_when_the_keyword_is_in_the_body(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    http_server.routes["/page"] = Reply(body=b"<h1>All systems operational</h1>")

    seen = await probe(http_server.url_for("/page"), probe_ctx, keyword="operational")

    assert seen.ok


async def test_it_reports_keyword_when_the_keyword_is_missing(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    http_server.routes["/page"] = Reply(body=b"<h1>Maintenance</h1>")

    seen = await probe(http_server.url_for("/page"), probe_ctx, keyword="operational")

    assert seen.error_kind == "keyword"
    assert seen.error == "keyword 'operational' not found in the body"
    assert seen.http_status == 200


async def test_it_reports_keyword_when_a_forbidden_keyword_is_present(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    http_server.routes["/page"] = Reply(body=b"Fatal error: database unavailable")
    url = http_server.url_for("/page")

    seen = await probe(url, probe_ctx, keyword_absent="Fatal error")
    fine = await probe(url, probe_ctx, keyword_absent="Warning")

    assert seen.error_kind == "keyword"
    assert seen.error == "keyword_absent 'Fatal error' found in the body"
    assert fine.ok


async def test_it_searches_a_body_that_is_not_valid_utf8(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    http_server.routes["/page"] = Reply(body=b"\xff\xfe caf\xc3\xa9 \xc3 open")

    seen = await probe(http_server.url_for("/page"), probe_ctx, keyword="café")

    assert seen.ok


async def test_it_reports_too_large_when_the_body_exceeds_max_body_bytes(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    at_the_cap = await probe(http_server.url_for("/body?size=1024"), probe_ctx, max_body_bytes=1024)
    over = await probe(http_server.url_for("/body?size=1025"), probe_ctx, max_body_bytes=1024)

    assert at_the_cap.ok
    assert over.error_kind == "too_large"
    assert over.error == "body larger than 1 KiB"


async def test_it_reports_too_large_for_an_endless_body(
    hostile_server: HostileServer, probe_ctx: ProbeContext
) -> None:
    seen, elapsed = await probe_timing(hostile_server.url_for("/endless-body"), probe_ctx, 2.0)

    assert seen.error_kind == "too_large"
    assert seen.error == "body larger than 1 MiB"
    assert seen.http_status == 200
    assert elapsed < 1.0


async def test_it_reports_too_large_for_an_endless_response_head(
    hostile_server: HostileServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(hostile_server.url_for("/huge-headers"), probe_ctx)

    assert seen.error_kind == "too_large"
    assert seen.error == "response head larger than 64 KiB"


# --- deadlines -------------------------------------------------------------------


async def test_it_times_out_within_the_deadline_when_the_server_never_answers(
    hostile_server: HostileServer, probe_ctx: ProbeContext
) -> None:
    seen, elapsed = await probe_timing(hostile_server.url_for("/silent"), probe_ctx, 0.5)

    assert seen.error_kind == "timeout"
    assert seen.error == "timed out after 0.5 s while reading headers"
    assert 0.5 <= elapsed < 0.9
    assert seen.timings.connect is not None
    assert seen.timings.ttfb is None


async def test_it_times_out_on_a_response_that_drips_one_byte_a_second(
    hostile_server: HostileServer, probe_ctx: ProbeContext
) -> None:
    seen, elapsed = await probe_timing(hostile_server.url_for("/drip"), probe_ctx, 0.5)

    assert seen.error == "timed out after 0.5 s while reading headers"
    assert 0.5 <= elapsed < 0.9


async def test_it_times_out_while_connecting_to_a_port_that_never_accepts(
    stalled_port: int, probe_ctx: ProbeContext
) -> None:
    seen, elapsed = await probe_timing(f"http://127.0.0.1:{stalled_port}/", probe_ctx, 0.5)

    assert seen.error == f"timed out after 0.5 s while connecting to 127.0.0.1:{stalled_port}"
    assert 0.5 <= elapsed < 0.9


async def test_it_times_out_in_a_tls_handshake_the_server_never_answers(
    hostile_server: HostileServer, probe_ctx: ProbeContext
) -> None:
    url = f"https://127.0.0.1:{hostile_server.port}/silent"

    seen, elapsed = await probe_timing(url, probe_ctx, 0.5)

    assert seen.error == "timed out after 0.5 s while negotiating TLS"
    assert 0.5 <= elapsed < 0.9


async def test_it_times_out_while_reading_a_body_that_stops_coming(
    probe_ctx: ProbeContext,
) -> None:
    async def half_a_body(stream: trio.abc.Stream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
        await trio.sleep_forever()

    async with serve_tcp(half_a_body) as target:
        seen, elapsed = await probe_timing(f"http://127.0.0.1:{target.port}/", probe_ctx, 0.5)

    assert seen.error == "timed out after 0.5 s while reading the body"
    assert seen.http_status == 200
    assert seen.timings.ttfb is not None
    assert 0.5 <= elapsed < 0.9


async def test_one_deadline_covers_every_redirect_hop(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    http_server.routes["/slow-hop"] = Reply(
        status=302, headers=[("Location", "/delay?seconds=0.4")], delay=0.3
    )

    seen, elapsed = await probe_timing(http_server.url_for("/slow-hop"), probe_ctx, 0.5)

    assert seen.error == "timed out after 0.5 s while reading headers"
    assert 0.5 <= elapsed < 0.9


# --- connection faults -----------------------------------------------------------


async def test_it_reports_refused_when_nothing_listens(
    refused_port: int, probe_ctx: ProbeContext
) -> None:
    seen = await probe(f"http://127.0.0.1:{refused_port}/", probe_ctx)

    assert seen.error_kind == "refused"
    assert seen.error == f"connection refused by 127.0.0.1:{refused_port}"
    assert seen.http_status is None


async def test_it_reports_dns_when_the_host_does_not_resolve(isolated: IsolatedNetwork) -> None:
    # In the namespace the system resolver has no route: the query never leaves it.
    seen = await isolated.probe("http", "http://nothing.invalid/", 2.0)

    assert seen.error_kind == "dns"
    assert seen.error is not None
    assert seen.error.startswith("cannot resolve nothing.invalid")
    assert seen.timings.total is not None
    assert seen.timings.total < 2000


async def test_it_reports_network_when_the_connection_is_reset(
    hostile_server: HostileServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(hostile_server.url_for("/reset"), probe_ctx)

    assert seen.error_kind == "network"
    assert seen.error == "connection reset by peer while reading headers"


async def test_it_reports_network_when_the_address_cannot_be_reached(
    probe_ctx: ProbeContext,
) -> None:
    # Linux refuses a TCP connect to a multicast address at once (ENETUNREACH).
    seen = await probe("http://224.0.0.1/", probe_ctx)

    assert seen.error_kind == "network"
    assert seen.error is not None
    assert seen.error.startswith("cannot connect to 224.0.0.1:80")


# --- protocol faults -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/close", "the server closed the connection without a response"),
        ("/close-mid-headers", "the server closed the connection mid-headers"),
        ("/garbage", "illegal status line: "),
        (
            "/truncated-body",
            "peer closed connection without sending complete message body "
            "(received 10 bytes, expected 1000) while reading the body",
        ),
    ],
)
async def test_it_reports_protocol_for_a_response_that_is_not_valid_http(
    hostile_server: HostileServer, probe_ctx: ProbeContext, path: str, error: str
) -> None:
    seen = await probe(hostile_server.url_for(path), probe_ctx)

    assert seen.error_kind == "protocol"
    assert seen.error is not None
    assert seen.error.startswith(error)
    assert len(seen.error) < 200


# --- TLS -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("expired", "certificate verification failed: certificate has expired"),
        (
            "wrong_host",
            "certificate verification failed: "
            "IP address mismatch, certificate is not valid for '127.0.0.1'",
        ),
        ("self_signed", "certificate verification failed: self-signed certificate"),
    ],
)
async def test_it_reports_tls_when_the_certificate_fails_verification(
    certificates: CertificateAuthority, probe_ctx: ProbeContext, case: CertCase, reason: str
) -> None:
    async with serve_http(ssl_context=certificates.server_context(case)) as server:
        seen = await probe(server.url_for("/ok"), probe_ctx)

    assert seen.error_kind == "tls"
    assert seen.error is not None
    assert seen.error.lower() == reason.lower()
    assert seen.timings.connect is not None


async def test_it_reports_a_host_name_mismatch_for_a_name(
    certificates: CertificateAuthority, probe_ctx: ProbeContext
) -> None:
    async with serve_http(ssl_context=certificates.server_context("wrong_host")) as server:
        seen = await probe(f"https://localhost:{server.port}/ok", probe_ctx)

    assert seen.error_kind == "tls"
    assert seen.error == (
        "certificate verification failed: "
        "hostname mismatch, certificate is not valid for 'localhost'"
    )


async def test_it_accepts_any_certificate_when_verify_tls_is_off(
    certificates: CertificateAuthority, probe_ctx: ProbeContext
) -> None:
    async with serve_http(ssl_context=certificates.server_context("self_signed")) as server:
        seen = await probe(server.url_for("/ok"), probe_ctx, verify_tls=False)

    assert seen.ok
    assert seen.timings.tls is not None


async def test_it_reports_tls_when_the_server_does_not_speak_tls(
    http_server: HttpServer, probe_ctx: ProbeContext
) -> None:
    seen = await probe(f"https://127.0.0.1:{http_server.port}/ok", probe_ctx)

    assert seen.error_kind == "tls"
    assert seen.error is not None
    assert seen.error.startswith("TLS handshake failed: ")


async def test_it_does_not_trust_a_ca_the_context_was_not_given(
    https_server: HttpServer,
) -> None:
    seen = await probe(https_server.url_for("/ok"), ProbeContext())

    assert seen.error_kind == "tls"
    assert seen.error == "certificate verification failed: unable to get local issuer certificate"


# --- validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "normalised"),
    [
        ("HTTP://Example.COM:80", "http://example.com/"),
        ("https://example.com:443/a/b?c=d#fragment", "https://example.com/a/b?c=d"),
        ("https://example.com:8443", "https://example.com:8443/"),
        ("http://[0:0::1]:8080/x", "http://[::1]:8080/x"),
        ("http://bücher.example/straße?q=ä", "http://xn--bcher-kva.example/stra%C3%9Fe?q=%C3%A4"),
        ("  http://example.com/already%20encoded  ", "http://example.com/already%20encoded"),
    ],
)
def test_it_normalises_the_target_url(target: str, normalised: str) -> None:
    assert KIND.parse_target(target) == normalised


@pytest.mark.parametrize(
    ("target", "complaint"),
    [
        ("ftp://example.com/", "unsupported scheme 'ftp'; use an http:// or https:// URL"),
        ("example.com/health", "not an absolute URL; use http://host/path"),
        ("localhost:8080", "not an absolute URL"),
        ("http:///health", "the URL has no host"),
        ("http://user:pw@example.com/", "credentials in the URL are not supported"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://example.com:0/", "port 0 is not a port"),
        ("http://exa mple.com/", "must not contain spaces"),
        ("http://[::1/", "not a valid URL"),
        ("http://exa$mple.com/", "is not a valid host name"),
    ],
)
def test_it_refuses_a_target_saying_what_is_accepted(target: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        KIND.parse_target(target)


def test_its_default_settings_are_valid() -> None:
    settings = msgspec.convert({}, HttpSettings)

    assert KIND.check_settings(settings, timeout=10.0) == []
    assert settings.accepted_status == ["200-399"]
    assert settings.max_body_bytes == 1024 * 1024


@pytest.mark.parametrize(
    ("settings", "field", "complaint"),
    [
        ({"accepted_status": []}, "accepted_status", "list at least one"),
        ({"accepted_status": ["2xx"]}, "accepted_status", "'2xx' is not a status code"),
        ({"accepted_status": ["399-200"]}, "accepted_status", "low to high"),
        ({"accepted_status": [99]}, "accepted_status", "99 is not within 100-599"),
        ({"max_redirects": 31}, "max_redirects", "31 is not within 0-30"),
        ({"max_redirects": -1}, "max_redirects", "-1 is not within 0-30"),
        ({"max_body_bytes": 1023}, "max_body_bytes", "not within 1 KiB-64 MiB"),
        ({"max_body_bytes": 64 * 1024 * 1024 + 1}, "max_body_bytes", "not within 1 KiB-64 MiB"),
        ({"headers": {"Content-Length": "3"}}, "headers", "Content-Length is set by the probe"),
        ({"headers": {"Connection": "keep-alive"}}, "headers", "Connection is set by the probe"),
        ({"headers": {"Bad Name": "x"}}, "headers", "'Bad Name' is not a valid header name"),
        ({"headers": {"X-A": "one\r\nX-B: two"}}, "headers", "value of X-A must be printable"),
        ({"headers": {"X-Key": " k3y"}}, "headers", "without spaces at its start or end"),
        ({"headers": {"Authorization: Bearer k3y": ""}}, "headers", "a header name has no ':'"),
        ({"keyword": ""}, "keyword", "must not be empty"),
        ({"method": "HEAD", "keyword_absent": "x"}, "keyword_absent", "HEAD response has no body"),
    ],
)
def test_it_names_the_field_and_the_accepted_values_of_bad_settings(
    settings: dict[str, Any], field: str, complaint: str
) -> None:
    problems = KIND.check_settings(msgspec.convert(settings, HttpSettings), timeout=10.0)

    assert len(problems) == 1
    assert problems[0][0] == field
    assert complaint in problems[0][1]


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"methd": "GET"}, "unknown field `methd`"),
        ({"method": "TRACE"}, "at `$.method`"),
        ({"accepted_status": [1.5]}, "at `$.accepted_status[0]`"),
    ],
)
def test_it_refuses_unknown_fields_and_values_when_settings_are_decoded(
    settings: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(msgspec.ValidationError, match=re.escape(complaint)):
        msgspec.convert(settings, HttpSettings)
